// Special-token matching (see specials.h).
#include "runtime/tokenizer/specials.h"

#include <algorithm>
#include <string>

namespace mt::tok {

SpecialMatcher::SpecialMatcher(const std::vector<SpecialToken>& tokens) {
  for (const SpecialToken& t : tokens) {
    if (t.text.empty()) continue;
    by_text_.emplace(t.text, t.id);
    first_byte_[static_cast<unsigned char>(t.text[0])] = true;
    lengths_.push_back(t.text.size());
  }
  std::sort(lengths_.begin(), lengths_.end(), std::greater<>());
  lengths_.erase(std::unique(lengths_.begin(), lengths_.end()), lengths_.end());
}

void SpecialMatcher::Scan(std::string_view text, absl::FunctionRef<void(std::string_view)> on_text,
                          absl::FunctionRef<void(int32_t)> on_special) const {
  size_t from = 0;  // start of the ordinary text not yet passed on
  for (size_t i = 0; i < text.size(); ++i) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) continue;
    for (size_t len : lengths_) {
      if (len > text.size() - i) continue;
      auto it = by_text_.find(AsAbsl(text.substr(i, len)));
      if (it == by_text_.end()) continue;
      if (i > from) on_text(text.substr(from, i - from));
      on_special(it->second);
      from = i + len;
      i = from - 1;
      break;
    }
  }
  if (from < text.size()) on_text(text.substr(from));
}

}  // namespace mt::tok
