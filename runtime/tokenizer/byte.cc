// `byte`: each byte is its token (vocabulary 256), meshtrain's synthetic-task tokenizer.
#include "fmt/format.h"
#include "runtime/tokenizer/loaders.h"

namespace mt::tok {
namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  std::string kind() const override { return "byte"; }
  int64_t vocab_size() const override { return 256; }
  std::vector<int32_t> Encode(std::string_view text, bool) const override {
    std::vector<int32_t> out(text.size());
    for (size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
    return out;
  }
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const override {
    std::string out(ids.size(), '\0');
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] > 255) {
        return absl::InvalidArgumentError(fmt::format(
            "token id {} at position {} is outside the vocabulary [0, 256)", ids[i], i));
      }
      out[i] = static_cast<char>(ids[i]);
    }
    return out;
  }
  bool lossless() const override { return true; }
};

}  // namespace

std::unique_ptr<Tokenizer> MakeByteTokenizer() { return std::make_unique<ByteTokenizer>(); }

}  // namespace mt::tok
