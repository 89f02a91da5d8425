// Learning-rate schedules: linear warmup, then constant, linear or cosine decay to
// min_lr_ratio * lr at the last step. Pure functions of the step.
#pragma once

#include <cstdint>
#include <string>

namespace mt::optim {

struct LrSchedule {
  double peak = 3e-4;
  double min_ratio = 0.1;
  int64_t warmup = 0;
  int64_t total = 1;
  std::string kind = "cosine";  // constant | linear | cosine

  // Learning rate for the update made at 0-based step `step`.
  double At(int64_t step) const;
};

}  // namespace mt::optim
