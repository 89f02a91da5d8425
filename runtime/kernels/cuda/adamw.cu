// AdamW and sum-of-squares kernels (see adamw.h).
#include "runtime/kernels/cuda/adamw.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

constexpr int kThreads = 256;

// ---- kernels ----
__global__ void AdamWKernel(float* param, const float* grad, float* m, float* v,
                            __nv_bfloat16* bf16_copy, int64_t n, AdamWArgs a, float bc1,
                            float bc2) {
  MT_GRID_STRIDE(i, n) {
    const float g = grad[i] * a.grad_scale;
    const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * g;
    const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float p =
        param[i] - a.lr * ((mi / bc1) / (sqrtf(vi / bc2) + a.eps) + a.weight_decay * param[i]);
    param[i] = p;
    if (bf16_copy != nullptr) bf16_copy[i] = __float2bfloat16_rn(p);
  }
}

__global__ void PartialSquaresKernel(double* partials, const float* x, int64_t n) {
  __shared__ double shared[kThreads];
  double s = 0.0;
  MT_GRID_STRIDE(i, n) { s += double(x[i]) * x[i]; }
  shared[threadIdx.x] = s;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = shared[0];
}

__global__ void SumPartialsKernel(double* out, const double* partials) {
  double s = 0.0;
  for (int i = 0; i < kSumSquaresBlocks; ++i) s += partials[i];
  *out = s;
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchAdamW(float* param, const float* grad, float* m, float* v,
                        __nv_bfloat16* bf16_copy, int64_t n, const AdamWArgs& a, cudaStream_t s) {
  MT_CHECK_COUNT(n);
  const float bc1 = 1.0f - powf(a.beta1, static_cast<float>(a.step));
  const float bc2 = 1.0f - powf(a.beta2, static_cast<float>(a.step));
  AdamWKernel<<<ElementwiseGrid(n), kElementwiseThreads, 0, s>>>(param, grad, m, v, bf16_copy, n, a,
                                                                 bc1, bc2);
  return cudaGetLastError();
}

cudaError_t LaunchSumSquares(double* out, double* partials, const float* x, int64_t n,
                             cudaStream_t s) {
  if (n < 0) return cudaErrorInvalidValue;
  PartialSquaresKernel<<<kSumSquaresBlocks, kThreads, 0, s>>>(partials, x, n);
  SumPartialsKernel<<<1, 1, 0, s>>>(out, partials);
  return cudaGetLastError();
}

}  // namespace mt::cuda
