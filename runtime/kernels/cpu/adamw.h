// AdamW (decoupled weight decay, Loshchilov & Hutter) and the squared norm used for clipping.
#pragma once

#include <cstdint>

namespace mt::cpu {

struct AdamWParams {
  float lr = 3e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // applied as p -= lr * wd * p
  int64_t step = 1;           // 1-based, for bias correction
  float grad_scale = 1.0f;    // multiplies grad first (global-norm clipping)
};

// One update of n elements: m, v are the moment buffers (updated in place).
void AdamWUpdate(float* param, const float* grad, float* m, float* v, int64_t n,
                 const AdamWParams& p);

// Sum of squares in double (the clipping norm must not lose small gradients to rounding).
double SumSquares(const float* x, int64_t n);

}  // namespace mt::cpu
