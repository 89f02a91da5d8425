// The live progress line:
// "step 120/400 | loss 1.2345 | lr 2.95e-03 | 15.2k tok/s | MFU 31% | peak 412 MiB | ETA 0:42".
// On a terminal it rewrites one line; otherwise (logs, CI) it prints a line per update.
#pragma once

#include <cstdint>
#include <string>

namespace mt::train {

std::string FormatDuration(double seconds);  // "1:02:03", "4:05"
std::string FormatRate(double per_second);   // "15.2k", "980"

class Progress {
 public:
  explicit Progress(int64_t total_steps);
  struct Numbers {
    double loss = 0, lr = 0;
    double tokens_per_s = 0;  // training steps only: evaluation and checkpoint time excluded
    double mfu = 0;           // model FLOP/s over the peak; 0: not shown (peak unknown)
    double peak_bytes = 0;    // this process's peak resident memory
    double eta_s = 0;
  };
  // Prints the line for `step` (1-based, finished) with the latest numbers.
  void Update(int64_t step, const Numbers& n);
  // Ends the rewritten line (prints a newline on a terminal).
  void Finish();
  // Prints a full line (e.g. eval results) without breaking the progress line.
  void Note(const std::string& text);

 private:
  int64_t total_;
  bool tty_;
  bool dirty_ = false;
};

}  // namespace mt::train
