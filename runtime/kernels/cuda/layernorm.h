// LayerNorm on the GPU: the twin of runtime/kernels/cpu/layernorm.h (eps 1e-5, saves mean and
// rstd, backward accumulates). Deterministic: no atomics; weight/bias gradients are column
// sums in row order.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchLayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                   const float* w, const float* b, int64_t rows, int64_t c,
                                   cudaStream_t stream);

cudaError_t LaunchLayerNormBackward(float* dinp, float* dw, float* db, const float* dout,
                                    const float* inp, const float* w, const float* mean,
                                    const float* rstd, int64_t rows, int64_t c,
                                    cudaStream_t stream);

}  // namespace mt::cuda
