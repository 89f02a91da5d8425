// Split patterns (see split.h).
#include "runtime/tokenizer/split.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fmt/format.h"

namespace mt::tok {
namespace {

pcre2_code* Code(void* p) { return static_cast<pcre2_code*>(p); }

// One match data block per thread and pattern would need a map; a pattern's match data is
// small (two offsets per group), so each Split call makes its own.
struct MatchData {
  explicit MatchData(const pcre2_code* code)
      : data(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
  pcre2_match_data* data;
};

}  // namespace

std::string ToPcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (e == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // literal ]
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<SplitPattern>> SplitPattern::Compile(std::string_view pattern) {
  const std::string pcre = ToPcre2(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre.data()), pcre.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(fmt::format("split pattern {:?}: {} at offset {}",
                                                  std::string(pattern),
                                                  reinterpret_cast<char*>(message), offset));
  }
  // JIT where the platform has it; the interpreter gives the same matches, slower.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  std::unique_ptr<SplitPattern> p(new SplitPattern);
  p->pattern_ = std::string(pattern);
  p->code_ = code;
  return p;
}

SplitPattern::~SplitPattern() { pcre2_code_free(Code(code_)); }

void SplitPattern::Split(std::string_view text,
                         absl::FunctionRef<void(std::string_view)> piece) const {
  MatchData md(Code(code_));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t at = 0;  // everything before `at` has been emitted
  size_t from = 0;
  while (from < text.size()) {
    const int rc = pcre2_match(Code(code_), subject, text.size(), from, 0, md.data, nullptr);
    if (rc < 0) break;  // no further match (PCRE2_ERROR_NOMATCH): the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.data);
    const size_t start = ov[0], end = ov[1];
    if (start > at) piece(text.substr(at, start - at));  // bytes no match covers
    if (end > start) {
      piece(text.substr(start, end - start));
      at = from = end;
    } else {  // an empty match: step over one byte so the scan moves on
      at = start;
      from = start + 1;
    }
  }
  if (at < text.size()) piece(text.substr(at));
}

}  // namespace mt::tok
