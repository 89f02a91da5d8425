// Problem formatting (see problem.h).
#include "runtime/job/problem.h"

#include "absl/strings/str_cat.h"

namespace mt::job {

std::string FormatProblem(const Problem& p) {
  std::string out = absl::StrCat(p.path, ": ", p.what);
  if (p.line > 0) absl::StrAppend(&out, " at line ", p.line);
  absl::StrAppend(&out, " (found ", p.found, ")");
  return out;
}

std::string FormatProblems(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems) absl::StrAppend(&out, FormatProblem(p), "\n");
  return out;
}

std::string Quote(const std::string& text) { return absl::StrCat("\"", text, "\""); }

}  // namespace mt::job
