// SentencePiece models (sentencepiece:FILE, the Llama-2 / Mistral family) through Debian's
// libsentencepiece: its own normaliser, pieces and byte fallback, so the ids are the library's.
// bos / eos / pad are the model's (-1 in the model: none); their piece text ("<s>") is matched
// in the text as a special token when `specials` is on, as HF's Llama tokenizer does.
#include "fmt/format.h"
#include "runtime/tokenizer/loaders.h"
#include "runtime/tokenizer/sp_bridge.h"
#include "runtime/tokenizer/specials.h"

namespace mt::tok {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(std::unique_ptr<SpBridge> sp) : sp_(std::move(sp)) {
    auto role = [&](int id) -> std::optional<int32_t> {
      if (id < 0) return std::nullopt;
      specials_.push_back({sp_->Piece(id), id});
      return id;
    };
    ids_.bos = role(sp_->bos());
    ids_.eos = role(sp_->eos());
    ids_.pad = role(sp_->pad());
    matcher_ = std::make_unique<SpecialMatcher>(specials_);
  }
  std::string kind() const override { return "sentencepiece"; }
  int64_t vocab_size() const override { return sp_->size(); }
  std::vector<int32_t> Encode(std::string_view text, bool specials) const override {
    std::vector<int32_t> out;
    auto plain = [&](std::string_view t) {
      std::vector<int> ids;
      if (sp_->Encode(t, ids)) out.insert(out.end(), ids.begin(), ids.end());
    };
    if (!specials) {
      plain(text);
    } else {
      matcher_->Scan(text, plain, [&](int32_t id) { out.push_back(id); });
    }
    return out;
  }
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const override {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= vocab_size()) {
        return absl::InvalidArgumentError(
            fmt::format("token id {} at position {} is outside the vocabulary [0, {})", ids[i], i,
                        vocab_size()));
      }
    }
    std::string out;
    const std::vector<int> v(ids.begin(), ids.end());
    if (std::string error; !sp_->Decode(v, out, &error)) {
      return absl::InvalidArgumentError(fmt::format("sentencepiece decode: {}", error));
    }
    return out;
  }
  // The normaliser and the dummy prefix space make Decode(Encode(x)) differ from x in general.
  bool lossless() const override { return false; }

 private:
  std::unique_ptr<SpBridge> sp_;
  std::unique_ptr<SpecialMatcher> matcher_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> OpenSentencePiece(const std::string& file) {
  std::string error;
  auto sp = SpBridge::Load(file, &error);
  if (!sp) {
    return absl::DataLossError(fmt::format("{}: not a SentencePiece model ({})", file, error));
  }
  return std::make_unique<SentencePieceTokenizer>(std::move(sp));
}

}  // namespace mt::tok
