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

StepStats AdamW::Step(double lr) {
  StepStats stats;
  stats.grad_norm = GlobalNorm();
  if (!std::isfinite(stats.grad_norm)) {
    stats.finite = false;
    return stats;
  }
  if (config_.clip > 0 && stats.grad_norm > config_.clip) {
    stats.clip_scale = config_.clip / stats.grad_norm;
  }
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Parameter* p = params_[i];
    cpu::AdamWParams a;
    a.lr = static_cast<float>(lr);
    a.beta1 = static_cast<float>(config_.beta1);
    a.beta2 = static_cast<float>(config_.beta2);
    a.eps = static_cast<float>(config_.eps);
    a.weight_decay = p->weight_decay ? static_cast<float>(config_.weight_decay) : 0.0f;
    a.step = step_;
    a.grad_scale = static_cast<float>(stats.clip_scale);
    cpu::AdamWUpdate(p->value.Data<float>(), p->grad.Data<float>(), m_[i].Data<float>(),
                     v_[i].Data<float>(), p->value.numel(), a);
  }
  return stats;
}

}  // namespace mt::optim
