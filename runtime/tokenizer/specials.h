// Finding special (added) tokens in text before pre-tokenization, so they are never split:
// at each position the longest special token that starts there wins (HF's added-token
// matching; tiktoken's special regex is an alternation of the tokens, longest first too).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::tok {

class SpecialMatcher {
 public:
  explicit SpecialMatcher(const std::vector<SpecialToken>& tokens);
  // Cuts `text` into ordinary text (on_text) and special tokens (on_special), in order.
  void Scan(std::string_view text, absl::FunctionRef<void(std::string_view)> on_text,
            absl::FunctionRef<void(int32_t)> on_special) const;
  bool empty() const { return by_text_.empty(); }

 private:
  absl::flat_hash_map<std::string, int32_t> by_text_;
  bool first_byte_[256] = {};    // some token starts with this byte
  std::vector<size_t> lengths_;  // distinct token lengths, longest first
};

}  // namespace mt::tok
