// Status helpers (see status.h).
#include "runtime/core/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fmt/format.h"

namespace mt {

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), fmt::format("{}: {}", context, std::string(status.message())));
}

absl::Status ErrnoStatus(int err, std::string_view call, std::string_view subject) {
  // ErrnoToStatus appends ": <strerror>" itself.
  return absl::ErrnoToStatus(err, fmt::format("{}: {} failed", subject, call));
}

void CheckFailed(const char* file, int line, std::string_view what) {
  std::fprintf(stderr, "%s:%d: invariant violated: %.*s\n", file, line,
               static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

absl::Status DomainError(std::string_view domain, long code, std::string_view text,
                         std::string_view expr, absl::StatusCode status_code) {
  return absl::Status(status_code, fmt::format("{} error {} ({}) in {}", domain, code, text, expr));
}

}  // namespace mt
