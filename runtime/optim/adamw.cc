// AdamW optimizer (see adamw.h).
#include "runtime/optim/adamw.h"

#include <cmath>

#include "runtime/kernels/cpu/adamw.h"

namespace mt::optim {

AdamW::AdamW(std::vector<nn::Parameter*> params, const AdamWConfig& config)
    : params_(std::move(params)), config_(config) {
  for (nn::Parameter* p : params_) {
    m_.push_back(Tensor::Zeros(p->value.shape()));
    v_.push_back(Tensor::Zeros(p->value.shape()));
  }
}

double AdamW::GlobalNorm() const {
  double sum = 0;
  for (const nn::Parameter* p : params_) {
    sum += cpu::SumSquares(p->grad.Data<float>(), p->grad.numel());
  }
  return std::sqrt(sum);
}

double AdamW::SquaredNorm(const std::vector<double>& weights) const {
  double sum = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (weights[i] == 0) continue;
    sum += weights[i] * cpu::SumSquares(params_[i]->grad.Data<float>(), params_[i]->grad.numel());
  }
  return sum;
}

StepStats AdamW::Step(double lr) { return Step(lr, GlobalNorm()); }

StepStats ClipStats(double grad_norm, double clip) {
  StepStats stats;
  stats.grad_norm = grad_norm;
  stats.finite = std::isfinite(grad_norm);
  if (stats.finite && clip > 0 && grad_norm > clip) stats.clip_scale = clip / grad_norm;
  return stats;
}

cpu::AdamWParams UpdateParams(const AdamWConfig& config, double lr, bool decay, int64_t step,
                              double clip_scale) {
  cpu::AdamWParams a;
  a.lr = static_cast<float>(lr);
  a.beta1 = static_cast<float>(config.beta1);
  a.beta2 = static_cast<float>(config.beta2);
  a.eps = static_cast<float>(config.eps);
  a.weight_decay = decay ? static_cast<float>(config.weight_decay) : 0.0f;
  a.step = step;
  a.grad_scale = static_cast<float>(clip_scale);
  return a;
}

StepStats AdamW::Step(double lr, double grad_norm) {
  const StepStats stats = ClipStats(grad_norm, config_.clip);
  if (!stats.finite) return stats;
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Parameter* p = params_[i];
    const cpu::AdamWParams a = UpdateParams(config_, lr, p->weight_decay, step_, stats.clip_scale);
    cpu::AdamWUpdate(p->value.Data<float>(), p->grad.Data<float>(), m_[i].Data<float>(),
                     v_[i].Data<float>(), p->value.numel(), a);
  }
  return stats;
}

}  // namespace mt::optim
