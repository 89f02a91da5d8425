// GELU kernels (see gelu.h).
#include "runtime/kernels/cuda/gelu.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

// ---- kernels ----
__global__ void GeluForwardKernel(float* out, const float* inp, int64_t n) {
  MT_GRID_STRIDE(i, n) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + kCubic * x * x * x)));
  }
}

__global__ void GeluBackwardKernel(float* dinp, const float* inp, const float* dout, int64_t n) {
  MT_GRID_STRIDE(i, n) {
    const float x = inp[i];
    const float t = tanhf(kSqrt2OverPi * (x + kCubic * x * x * x));
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
  }
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchGeluForward(float* out, const float* inp, int64_t n, cudaStream_t s) {
  MT_CHECK_COUNT(n);
  GeluForwardKernel<<<ElementwiseGrid(n), kElementwiseThreads, 0, s>>>(out, inp, n);
  return cudaGetLastError();
}

cudaError_t LaunchGeluBackward(float* dinp, const float* inp, const float* dout, int64_t n,
                               cudaStream_t s) {
  MT_CHECK_COUNT(n);
  GeluBackwardKernel<<<ElementwiseGrid(n), kElementwiseThreads, 0, s>>>(dinp, inp, dout, n);
  return cudaGetLastError();
}

}  // namespace mt::cuda
