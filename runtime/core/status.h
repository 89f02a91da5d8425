// Status helpers: propagation macros, context annotation, and the pattern every foreign error
// domain (CUDA, NCCL, MPI, HDF5, curl, errno) uses to become an absl::Status.
//
// Contract: library code returns absl::Status / absl::StatusOr<T> across module boundaries and
// never exits; MT_CHECK aborts only on a broken internal invariant (a bug, not bad input).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mt {

// Returns `status` with "context: " prepended to its message (same code). OK stays OK.
absl::Status Annotate(const absl::Status& status, std::string_view context);

// absl::Status for an errno value from a failed POSIX call, naming the call and its subject.
absl::Status ErrnoStatus(int err, std::string_view call, std::string_view subject);

// Aborts the process after printing `what` with file:line. Used only by MT_CHECK.
[[noreturn]] void CheckFailed(const char* file, int line, std::string_view what);

// Builds the Status for a failed call into a foreign library ("domain"):
// "<domain> error <code> (<text>) in <expr>". The per-domain macros below wrap it.
absl::Status DomainError(std::string_view domain, long code, std::string_view text,
                         std::string_view expr, absl::StatusCode status_code);

}  // namespace mt

#define MT_STATUS_CONCAT_INNER_(a, b) a##b
#define MT_STATUS_CONCAT_(a, b) MT_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function if not OK.
#define MT_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status mt_status_ = (expr);      \
    if (!mt_status_.ok()) return mt_status_; \
  } while (0)

// `MT_ASSIGN_OR_RETURN(auto x, Foo());` evaluates Foo() (an absl::StatusOr<T>); on error returns
// its status, else moves the value into `x`.
#define MT_ASSIGN_OR_RETURN(lhs, expr) \
  MT_ASSIGN_OR_RETURN_IMPL_(MT_STATUS_CONCAT_(mt_statusor_, __LINE__), lhs, expr)
#define MT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()

// Aborts with a message when an internal invariant does not hold.
#define MT_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond)) ::mt::CheckFailed(__FILE__, __LINE__, "MT_CHECK(" #cond ")"); \
  } while (0)

// Per-domain checks. Each evaluates a call into a foreign library and, on failure, returns an
// absl::Status from the enclosing function. A domain that needs the library's own headers
// defines its macro next to the code using that library, on top of MT_DOMAIN_CHECK_:
//   runtime/kernels/cuda/cuda_check.h: MT_CUDA_CHECK, MT_NCCL_CHECK (with CUDA builds).
// MT_DOMAIN_CHECK_(domain, expr, ok_pred, to_text, status_code): `ok_pred(rc)` says success;
// `to_text(rc)` describes the error code.
#define MT_DOMAIN_CHECK_(domain, expr, ok_pred, to_text, status_code)                     \
  do {                                                                                    \
    auto mt_rc_ = (expr);                                                                 \
    if (!(ok_pred(mt_rc_))) {                                                             \
      return ::mt::DomainError(domain, static_cast<long>(mt_rc_), to_text(mt_rc_), #expr, \
                               status_code);                                              \
    }                                                                                     \
  } while (0)

// POSIX calls that return -1 and set errno: MT_ERRNO_CHECK(::fsync(fd), path).
#define MT_ERRNO_CHECK(expr, subject)                                  \
  do {                                                                 \
    if ((expr) == -1) return ::mt::ErrnoStatus(errno, #expr, subject); \
  } while (0)
