// y <- a * x + y: a grid-stride loop, one float per thread per iteration.
#include "runtime/kernels/cuda/axpy.h"

namespace mt::cuda {
namespace {

// ---- kernel ----
__global__ void AxpyKernel(float a, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int64_t stride = int64_t{blockDim.x} * gridDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] = fmaf(a, x[i], y[i]);
  }
}

}  // namespace

// ---- launcher ----
cudaError_t LaunchAxpy(float a, const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n < 0 || (n > 0 && (x == nullptr || y == nullptr))) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  // Enough blocks to fill an H100 several times over; the grid-stride loop covers the rest.
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  const int grid = static_cast<int>(blocks < 4096 ? blocks : 4096);
  AxpyKernel<<<grid, kThreads, 0, stream>>>(a, x, y, n);
  return cudaGetLastError();
}

}  // namespace mt::cuda
