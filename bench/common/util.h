// Small helpers every benchmark uses: wall-clock seconds since a point, and stopping the
// benchmark on an error (a benchmark has nobody to return a Status to).
#pragma once

#include <errno.h>  // program_invocation_short_name (glibc)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"

namespace mt::bench {

using Clock = std::chrono::steady_clock;

inline double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Exits 1 printing "<program>: <message>" when `s` is an error.
inline void Check(const absl::Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, std::string(s.message()).c_str());
  std::exit(1);
}

}  // namespace mt::bench
