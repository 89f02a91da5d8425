// Causal multi-head self-attention core (after the QKV projection, before the output one).
//
// Layout: qkv [B, T, 3 * H * hs] holds Q, K, V side by side, head h in columns h*hs..(h+1)*hs
// of each; out [B, T, H * hs]; att [B, H, T, T] keeps the softmax probabilities (row t uses
// columns 0..t) for backward. H is the number of heads this rank holds, so the same kernel
// serves head-parallel (tensor-parallel) attention.
#pragma once

#include <cstdint>

namespace mt::cpu {

void AttentionForward(float* out, float* att, const float* qkv, int64_t batch, int64_t seq,
                      int64_t heads, int64_t head_size);

// dqkv += gradient w.r.t. qkv, from dout and the saved att.
void AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* att,
                       int64_t batch, int64_t seq, int64_t heads, int64_t head_size);

}  // namespace mt::cpu
