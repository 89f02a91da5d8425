// AdamW and the gradient sum of squares on the GPU: twins of runtime/kernels/cpu/adamw.h.
// The update keeps fp32 master weights and can write a bf16 copy for bf16 compute.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace mt::cuda {

struct AdamWArgs {
  float lr, beta1, beta2, eps, weight_decay;
  int64_t step;      // 1-based
  float grad_scale;  // global-norm clipping factor
};

// param, m, v updated in place; when bf16_copy is non-null it receives the new param in bf16.
cudaError_t LaunchAdamW(float* param, const float* grad, float* m, float* v,
                        __nv_bfloat16* bf16_copy, int64_t n, const AdamWArgs& args,
                        cudaStream_t stream);

// out[0] (device, double) = sum of x[i]^2. `partials` holds kSumSquaresBlocks doubles.
// Deterministic: fixed grid and reduction order.
inline constexpr int kSumSquaresBlocks = 256;
cudaError_t LaunchSumSquares(double* out, double* partials, const float* x, int64_t n,
                             cudaStream_t stream);

}  // namespace mt::cuda
