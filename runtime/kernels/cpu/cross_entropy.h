// Softmax cross-entropy over logits [rows, vocab] with integer targets; a target < 0 marks a
// position that does not count (loss 0, no gradient).
#pragma once

#include <cstdint>

namespace mt::cpu {

// probs = softmax(logits) per row; losses[r] = -log probs[r, target[r]] (0 when ignored).
// Returns the number of counted rows.
int64_t CrossEntropyForward(float* losses, float* probs, const float* logits,
                            const int32_t* targets, int64_t rows, int64_t vocab);

// dlogits += (probs - onehot(target)) * dloss for counted rows.
void CrossEntropyBackward(float* dlogits, const float* probs, const int32_t* targets, float dloss,
                          int64_t rows, int64_t vocab);

}  // namespace mt::cpu
