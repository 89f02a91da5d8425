// Bias kernels for GPU linear layers (the GEMM itself is cuBLAS, see blas.h):
// out[r, :] = b broadcast (before a beta = 1 GEMM), and db += column sums of dout.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchBroadcastRows(float* out, const float* b, int64_t rows, int64_t cols,
                                cudaStream_t stream);
// db[j] += sum_r dout[r, j], deterministic (thread per column, rows in order).
cudaError_t LaunchColumnSum(float* db, const float* dout, int64_t rows, int64_t cols,
                            cudaStream_t stream);

}  // namespace mt::cuda
