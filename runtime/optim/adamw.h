// AdamW over a model's parameters with global-norm clipping. Owns the moment buffers (m, v),
// which checkpoints save and restore by parameter name.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/kernels/cpu/adamw.h"
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

// The clipping decision for a global gradient norm (not finite: skip the update).
StepStats ClipStats(double grad_norm, double clip);
// The kernel's settings for one parameter (`decay`: it takes weight decay) at update `step`.
cpu::AdamWParams UpdateParams(const AdamWConfig& config, double lr, bool decay, int64_t step,
                              double clip_scale);

class AdamW {
 public:
  AdamW(std::vector<nn::Parameter*> params, const AdamWConfig& config);

  // Sqrt of the sum of squared gradients over all parameters.
  double GlobalNorm() const;
  // Sum of squared gradients, parameter i's weighted by weights[i] (a sharded run counts each
  // parameter once across ranks by giving copies weight 0, then sums over the ranks).
  double SquaredNorm(const std::vector<double>& weights) const;

  // One update with learning rate `lr`. Skips the update (and reports it) when the gradient
  // norm is not finite, so a bad batch never poisons the weights.
  StepStats Step(double lr);
  // The same with the global gradient norm given (computed over a mesh by the caller).
  StepStats Step(double lr, double grad_norm);

  const AdamWConfig& config() const { return config_; }
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
