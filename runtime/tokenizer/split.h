// A pre-tokenizer split pattern: the regular expression GPT-2, tiktoken and Hugging Face use to
// cut text into the pieces byte-pair merging runs on. PCRE2 with UTF, UCP and JIT (Unicode
// classes, look-ahead, possessive quantifiers), written as those projects write them (Rust /
// Python regex syntax, which PCRE2 reads as is for these patterns).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace mt::tok {

class SplitPattern {
 public:
  // InvalidArgument with PCRE2's message and offset for a pattern it cannot compile.
  static absl::StatusOr<std::unique_ptr<SplitPattern>> Compile(std::string_view pattern);
  ~SplitPattern();
  SplitPattern(const SplitPattern&) = delete;
  SplitPattern& operator=(const SplitPattern&) = delete;

  // Calls `piece` for each piece of `text`, in order; the pieces cover `text` exactly. They are
  // the pattern's matches and, between them, each run of bytes no match can cover (invalid
  // UTF-8: Rust's and Python's patterns only ever see valid text, so this is ours), so any
  // byte string splits. Thread-safe.
  void Split(std::string_view text, absl::FunctionRef<void(std::string_view)> piece) const;

  const std::string& pattern() const { return pattern_; }

 private:
  SplitPattern() = default;
  std::string pattern_;   // as given
  void* code_ = nullptr;  // pcre2_code_8
};

// The pattern rewritten so PCRE2 matches what Rust's regex crate (tiktoken, HF tokenizers)
// matches: there \s is Unicode White_Space, which PCRE2's \s under UCP lacks one of (U+0085,
// NEXT LINE). Exposed for its test.
std::string ToPcre2(std::string_view pattern);

}  // namespace mt::tok
