// Byte-level BPE tokenizers (see bpe_tokenizer.h).
#include "runtime/tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "fmt/format.h"

namespace mt::tok {

BpeTokenizer::BpeTokenizer(BpeParts parts) : p_(std::move(parts)), matcher_(p_.specials) {
  int64_t top = static_cast<int64_t>(p_.model.bytes.size());
  for (const SpecialToken& s : p_.specials) top = std::max<int64_t>(top, s.id + 1);
  if (p_.vocab_size < top) p_.vocab_size = top;
  special_text_.resize(p_.vocab_size);
  for (const SpecialToken& s : p_.specials) special_text_[s.id] = s.text;
  ids_ = p_.ids;
  specials_ = p_.specials;
}

void BpeTokenizer::EncodeText(std::string_view text, std::vector<int32_t>& out) const {
  std::string prefixed;
  if (p_.prefix_space && !text.empty() && text[0] != ' ') {
    prefixed = " " + std::string(text);
    text = prefixed;
  }
  if (!p_.split) {
    if (!text.empty()) p_.model.Encode(text, out);
    return;
  }
  p_.split->Split(text, [&](std::string_view piece) { p_.model.Encode(piece, out); });
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, bool specials) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  if (!specials || matcher_.empty()) {
    EncodeText(text, out);
    return out;
  }
  matcher_.Scan(
      text, [&](std::string_view t) { EncodeText(t, out); },
      [&](int32_t id) { out.push_back(id); });
  return out;
}

absl::StatusOr<std::string> BpeTokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= p_.vocab_size) {
      return absl::InvalidArgumentError(fmt::format(
          "token id {} at position {} is outside the vocabulary [0, {})", id, i, p_.vocab_size));
    }
    if (!special_text_[id].empty()) {
      out += special_text_[id];
    } else if (id < static_cast<int32_t>(p_.model.bytes.size()) && !p_.model.bytes[id].empty()) {
      out += p_.model.bytes[id];
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "token id {} at position {} is not a token of this {} vocabulary", id, i, p_.kind));
    }
  }
  return out;
}

}  // namespace mt::tok
