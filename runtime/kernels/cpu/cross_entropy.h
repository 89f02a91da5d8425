// Softmax cross-entropy over logits [rows, vocab] with integer targets; a target < 0 marks a
// position that does not count (loss 0, no gradient).
#pragma once

#include <cstdint>

namespace mt::cpu {

// probs = softmax(logits) per row; losses[r] = -log probs[r, target[r]] (0 when ignored).
// Returns the number of counted rows.
int64_t CrossEntropyForward(float* losses, float* probs, const float* logits,
                            const int32_t* targets, int64_t rows, int64_t vocab);

// dlogits += (probs - onehot(target)) * dloss for counted rows. Under vocab-parallel tensor
// parallelism logits/probs hold columns [vocab_begin, vocab_begin + vocab) of the vocabulary
// and the one-hot term lands only where the target is one of them.
void CrossEntropyBackward(float* dlogits, const float* probs, const int32_t* targets, float dloss,
                          int64_t rows, int64_t vocab, int64_t vocab_begin = 0);

// Vocab-parallel forward, in steps around the two reductions over the group:
//  1. CrossEntropyRowMax: row_max[r] = max of this slice's logits (then all-reduce max);
//  2. CrossEntropyPartials: probs = exp(logits - row_max) unnormalised, partial[r] = their sum,
//     partial[rows + r] = the target's logit when this slice holds it, else 0 (all-reduce sum);
//  3. CrossEntropyFinish: probs /= sum, losses = log(sum) + max - target logit; returns counted.
void CrossEntropyRowMax(float* row_max, const float* logits, int64_t rows, int64_t vocab);
void CrossEntropyPartials(float* partial, float* probs, const float* logits, const float* row_max,
                          const int32_t* targets, int64_t rows, int64_t vocab, int64_t vocab_begin);
int64_t CrossEntropyFinish(float* losses, float* probs, const float* sums, const float* row_max,
                           const int32_t* targets, int64_t rows, int64_t vocab);

}  // namespace mt::cpu
