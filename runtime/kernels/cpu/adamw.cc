// AdamW kernels (see adamw.h).
#include "runtime/kernels/cpu/adamw.h"

#include <cmath>

namespace mt::cpu {

void AdamWUpdate(float* param, const float* grad, float* m, float* v, int64_t n,
                 const AdamWParams& p) {
  const float bc1 = 1.0f - std::pow(p.beta1, static_cast<float>(p.step));
  const float bc2 = 1.0f - std::pow(p.beta2, static_cast<float>(p.step));
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * p.grad_scale;
    m[i] = p.beta1 * m[i] + (1.0f - p.beta1) * g;
    v[i] = p.beta2 * v[i] + (1.0f - p.beta2) * g * g;
    const float mhat = m[i] / bc1;
    const float vhat = v[i] / bc2;
    param[i] -= p.lr * (mhat / (std::sqrt(vhat) + p.eps) + p.weight_decay * param[i]);
  }
}

double SumSquares(const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return s;
}

}  // namespace mt::cpu
