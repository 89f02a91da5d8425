// Embedding kernels (see embedding.h). Backward is a scatter-add: rows sharing a token would
// race, so it is parallel over channel blocks instead of rows (deterministic order per row).
#include "runtime/kernels/cpu/embedding.h"

#include <algorithm>

namespace mt::cpu {

void EmbeddingForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                      int64_t batch, int64_t seq, int64_t c, VocabRange range) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < batch * seq; ++r) {
    const int64_t token = tokens[r];
    const bool held = token >= range.begin && token < range.end;
    const float* e = wte + (token - range.begin) * c;
    const float* p = wpe ? wpe + (r % seq) * c : nullptr;
    float* o = out + r * c;
    for (int64_t i = 0; i < c; ++i) o[i] = (held ? e[i] : 0.0f) + (p ? p[i] : 0.0f);
  }
}

void EmbeddingBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                       int64_t batch, int64_t seq, int64_t c, VocabRange range) {
  constexpr int64_t kBlock = 16;
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < c; i0 += kBlock) {
    const int64_t i1 = std::min(c, i0 + kBlock);
    for (int64_t r = 0; r < batch * seq; ++r) {
      const float* d = dout + r * c;
      const int64_t token = tokens[r];
      if (token >= range.begin && token < range.end) {
        float* e = dwte + (token - range.begin) * c;
        for (int64_t i = i0; i < i1; ++i) e[i] += d[i];
      }
      if (dwpe != nullptr) {
        float* p = dwpe + (r % seq) * c;
        for (int64_t i = i0; i < i1; ++i) p[i] += d[i];
      }
    }
  }
}

}  // namespace mt::cpu
