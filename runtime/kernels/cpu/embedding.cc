// Embedding kernels (see embedding.h). Backward is a scatter-add: rows sharing a token would
// race, so it is parallel over channel blocks instead of rows (deterministic order per row).
#include "runtime/kernels/cpu/embedding.h"

#include <algorithm>

namespace mt::cpu {

void EmbeddingForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                      int64_t batch, int64_t seq, int64_t c) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < batch * seq; ++r) {
    const float* e = wte + static_cast<int64_t>(tokens[r]) * c;
    const float* p = wpe + (r % seq) * c;
    float* o = out + r * c;
    for (int64_t i = 0; i < c; ++i) o[i] = e[i] + p[i];
  }
}

void EmbeddingBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                       int64_t batch, int64_t seq, int64_t c) {
  constexpr int64_t kBlock = 16;
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < c; i0 += kBlock) {
    const int64_t i1 = std::min(c, i0 + kBlock);
    for (int64_t r = 0; r < batch * seq; ++r) {
      const float* d = dout + r * c;
      float* e = dwte + static_cast<int64_t>(tokens[r]) * c;
      for (int64_t i = i0; i < i1; ++i) e[i] += d[i];
      if (dwpe != nullptr) {
        float* p = dwpe + (r % seq) * c;
        for (int64_t i = i0; i < i1; ++i) p[i] += d[i];
      }
    }
  }
}

}  // namespace mt::cpu
