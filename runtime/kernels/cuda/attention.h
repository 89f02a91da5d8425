// Causal multi-head attention core on the GPU: the twin of runtime/kernels/cpu/attention.h,
// same layouts (qkv [B, T, 3*H*hs], out [B, T, H*hs], att [B, H, T, T]).
// Deterministic (no atomics). Straightforward warp-per-row kernels: correct first; a fused
// flash-style kernel can replace them behind the same launchers.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchAttentionForward(float* out, float* att, const float* qkv, int64_t batch,
                                   int64_t seq, int64_t heads, int64_t head_size,
                                   cudaStream_t stream);

// dqkv += gradient. `scratch` holds batch * heads * seq * seq floats (overwritten).
cudaError_t LaunchAttentionBackward(float* dqkv, float* scratch, const float* dout,
                                    const float* qkv, const float* att, int64_t batch, int64_t seq,
                                    int64_t heads, int64_t head_size, cudaStream_t stream);

}  // namespace mt::cuda
