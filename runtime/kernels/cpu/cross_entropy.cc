// Cross-entropy kernels (see cross_entropy.h).
#include "runtime/kernels/cpu/cross_entropy.h"

#include <cmath>

namespace mt::cpu {

int64_t CrossEntropyForward(float* losses, float* probs, const float* logits,
                            const int32_t* targets, int64_t rows, int64_t vocab) {
  int64_t counted = 0;
#pragma omp parallel for schedule(static) reduction(+ : counted)
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * vocab;
    float* p = probs + r * vocab;
    float max = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) max = std::fmax(max, z[v]);
    float sum = 0.0f;
    for (int64_t v = 0; v < vocab; ++v) sum += (p[v] = std::exp(z[v] - max));
    const float inv = 1.0f / sum;
    for (int64_t v = 0; v < vocab; ++v) p[v] *= inv;
    if (targets[r] < 0) {
      losses[r] = 0.0f;
      continue;
    }
    // log-sum-exp form: exact even when p[target] underflows to 0.
    losses[r] = std::log(sum) + max - z[targets[r]];
    ++counted;
  }
  return counted;
}

void CrossEntropyBackward(float* dlogits, const float* probs, const int32_t* targets, float dloss,
                          int64_t rows, int64_t vocab, int64_t vocab_begin) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] < 0) continue;
    const float* p = probs + r * vocab;
    float* d = dlogits + r * vocab;
    for (int64_t v = 0; v < vocab; ++v) d[v] += p[v] * dloss;
    const int64_t t = targets[r] - vocab_begin;
    if (t >= 0 && t < vocab) d[t] -= dloss;
  }
}

void CrossEntropyRowMax(float* row_max, const float* logits, int64_t rows, int64_t vocab) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float max = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) max = std::fmax(max, logits[r * vocab + v]);
    row_max[r] = max;
  }
}

void CrossEntropyPartials(float* partial, float* probs, const float* logits, const float* row_max,
                          const int32_t* targets, int64_t rows, int64_t vocab,
                          int64_t vocab_begin) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * vocab;
    float* p = probs + r * vocab;
    float sum = 0.0f;
    for (int64_t v = 0; v < vocab; ++v) sum += (p[v] = std::exp(z[v] - row_max[r]));
    partial[r] = sum;
    const int64_t t = targets ? targets[r] - vocab_begin : -1;
    partial[rows + r] = t >= 0 && t < vocab ? z[t] : 0.0f;
  }
}

int64_t CrossEntropyFinish(float* losses, float* probs, const float* sums, const float* row_max,
                           const int32_t* targets, int64_t rows, int64_t vocab) {
  int64_t counted = 0;
#pragma omp parallel for schedule(static) reduction(+ : counted)
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = 1.0f / sums[r];
    for (int64_t v = 0; v < vocab; ++v) probs[r * vocab + v] *= inv;
    if (targets == nullptr || targets[r] < 0) {
      if (targets) losses[r] = 0.0f;
      continue;
    }
    losses[r] = std::log(sums[r]) + row_max[r] - sums[rows + r];
    ++counted;
  }
  return counted;
}

}  // namespace mt::cpu
