// Token + position embedding: out[b, t] = wte[token[b, t]] + wpe[t].
#pragma once

#include <cstdint>

namespace mt::cpu {

// Tokens must be in [0, vocab); callers validate data before it reaches a kernel.
void EmbeddingForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                      int64_t batch, int64_t seq, int64_t c);

// dwte[token] += dout and dwpe[t] += dout (dwpe may be null).
void EmbeddingBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                       int64_t batch, int64_t seq, int64_t c);

}  // namespace mt::cpu
