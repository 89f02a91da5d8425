// Token + position embedding on the GPU: the twin of runtime/kernels/cpu/embedding.h.
// Backward is deterministic: each thread owns one channel and walks positions in order.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchEmbeddingForward(float* out, const int32_t* tokens, const float* wte,
                                   const float* wpe, int64_t batch, int64_t seq, int64_t c,
                                   cudaStream_t stream);
// dwte[token] += dout, dwpe[t] += dout (dwpe may be null).
cudaError_t LaunchEmbeddingBackward(float* dwte, float* dwpe, const float* dout,
                                    const int32_t* tokens, int64_t batch, int64_t seq, int64_t c,
                                    cudaStream_t stream);

}  // namespace mt::cuda
