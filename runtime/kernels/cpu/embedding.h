// Token + position embedding: out[b, t] = wte[token[b, t]] + wpe[t].
#pragma once

#include <cstdint>

namespace mt::cpu {

// The rows of the vocabulary a table holds: all of them, or under vocab-parallel tensor
// parallelism the rank's slice (wte row 0 is token `begin`).
struct VocabRange {
  int64_t begin = 0, end = INT64_MAX;
};

// Tokens must be in [0, vocab); callers validate data before it reaches a kernel. A token
// outside `range` contributes zeros (another rank holds it); wpe may be null (not added).
void EmbeddingForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                      int64_t batch, int64_t seq, int64_t c, VocabRange range = {});

// dwte[token] += dout for tokens in range, and dwpe[t] += dout (dwpe may be null).
void EmbeddingBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                       int64_t batch, int64_t seq, int64_t c, VocabRange range = {});

}  // namespace mt::cpu
