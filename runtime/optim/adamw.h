// AdamW over a model's parameters with global-norm clipping. Owns the moment buffers (m, v),
// which checkpoints save and restore by parameter name.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/nn/parameter.h"

namespace mt::optim {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
  double clip = 1.0;  // global gradient-norm clip; 0 disables
};

struct StepStats {
  double grad_norm = 0;  // before clipping
  double clip_scale = 1;
  bool finite = true;  // false: a gradient was NaN/Inf and no parameter was changed
};

class AdamW {
 public:
  AdamW(std::vector<nn::Parameter*> params, const AdamWConfig& config);

  // Sqrt of the sum of squared gradients over all parameters.
  double GlobalNorm() const;

  // One update with learning rate `lr`. Skips the update (and reports it) when the gradient
  // norm is not finite, so a bad batch never poisons the weights.
  StepStats Step(double lr);

  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }
  // Moment buffers, parallel to the parameter list.
  std::vector<Tensor>& m() { return m_; }
  std::vector<Tensor>& v() { return v_; }

 private:
  std::vector<nn::Parameter*> params_;
  AdamWConfig config_;
  std::vector<Tensor> m_, v_;
  int64_t step_ = 0;  // updates done so far
};

}  // namespace mt::optim
