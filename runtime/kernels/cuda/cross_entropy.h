// Softmax cross-entropy on the GPU: the twin of runtime/kernels/cpu/cross_entropy.h
// (targets < 0 are ignored). One block per row.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

// probs = softmax(logits); losses[r] = -log p[target] (0 when ignored).
cudaError_t LaunchCrossEntropyForward(float* losses, float* probs, const float* logits,
                                      const int32_t* targets, int64_t rows, int64_t vocab,
                                      cudaStream_t stream);
// dlogits += (probs - onehot) * dloss for counted rows.
cudaError_t LaunchCrossEntropyBackward(float* dlogits, const float* probs, const int32_t* targets,
                                       float dloss, int64_t rows, int64_t vocab,
                                       cudaStream_t stream);

}  // namespace mt::cuda
