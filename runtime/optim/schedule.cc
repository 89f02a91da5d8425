// LR schedule (see schedule.h).
#include "runtime/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace mt::optim {

double LrSchedule::At(int64_t step) const {
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  const double min_lr = peak * min_ratio;
  const int64_t span = std::max<int64_t>(1, total - warmup - 1);
  const double progress = std::clamp(double(step - warmup) / double(span), 0.0, 1.0);
  if (kind == "constant") return peak;
  if (kind == "linear") return peak - (peak - min_lr) * progress;
  return min_lr + (peak - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace mt::optim
