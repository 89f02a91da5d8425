// Bias kernels (see bias.h).
#include "runtime/kernels/cuda/bias.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

// ---- kernels ----
__global__ void BroadcastRowsKernel(float* out, const float* b, int64_t rows, int64_t cols) {
  MT_GRID_STRIDE(i, rows * cols) { out[i] = b[i % cols]; }
}

__global__ void ColumnSumKernel(float* db, const float* dout, int64_t rows, int64_t cols) {
  const int64_t j = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float s = 0.0f;
  for (int64_t r = 0; r < rows; ++r) s += dout[r * cols + j];
  db[j] += s;
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchBroadcastRows(float* out, const float* b, int64_t rows, int64_t cols,
                                cudaStream_t s) {
  MT_CHECK_COUNT(rows * cols);
  BroadcastRowsKernel<<<ElementwiseGrid(rows * cols), kElementwiseThreads, 0, s>>>(out, b, rows,
                                                                                   cols);
  return cudaGetLastError();
}

cudaError_t LaunchColumnSum(float* db, const float* dout, int64_t rows, int64_t cols,
                            cudaStream_t s) {
  MT_CHECK_COUNT(rows * cols);
  ColumnSumKernel<<<CeilDiv(cols, 128), 128, 0, s>>>(db, dout, rows, cols);
  return cudaGetLastError();
}

}  // namespace mt::cuda
