// Progress line (see progress.h).
#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

#include "fmt/format.h"

namespace mt::train {

std::string FormatDuration(double s) {
  const int64_t total = s < 0 ? 0 : static_cast<int64_t>(s + 0.5);
  const int64_t h = total / 3600, m = total / 60 % 60, sec = total % 60;
  return h > 0 ? fmt::format("{}:{:02d}:{:02d}", h, m, sec) : fmt::format("{}:{:02d}", m, sec);
}

std::string FormatRate(double r) {
  if (r >= 1e6) return fmt::format("{:.2f}M", r / 1e6);
  if (r >= 1e3) return fmt::format("{:.1f}k", r / 1e3);
  return fmt::format("{:.0f}", r);
}

Progress::Progress(int64_t total_steps) : total_(total_steps), tty_(isatty(STDOUT_FILENO)) {}

void Progress::Update(int64_t step, const Numbers& n) {
  std::string line = fmt::format("step {}/{} | loss {:.4f} | lr {:.2e} | {} tok/s", step, total_,
                                 n.loss, n.lr, FormatRate(n.tokens_per_s));
  if (n.mfu > 0) line += fmt::format(" | MFU {:.1f}%", 100 * n.mfu);
  if (n.peak_bytes > 0) line += fmt::format(" | peak {:.0f} MiB", n.peak_bytes / 1048576.0);
  line += " | ETA " + FormatDuration(n.eta_s);
  if (tty_) {
    std::printf("\r\033[K%s", line.c_str());
    dirty_ = true;
  } else {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

void Progress::Note(const std::string& text) {
  if (dirty_) std::printf("\r\033[K");
  std::printf("%s\n", text.c_str());
  dirty_ = false;
  std::fflush(stdout);
}

void Progress::Finish() {
  if (dirty_) std::printf("\n");
  dirty_ = false;
  std::fflush(stdout);
}

}  // namespace mt::train
