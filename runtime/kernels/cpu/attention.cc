// Causal attention kernels (see attention.h). Parallel over (batch, head) pairs, which touch
// disjoint slices of every output, so no reduction is needed and results are deterministic.
#include "runtime/kernels/cpu/attention.h"

#include <cmath>
#include <vector>

namespace mt::cpu {

void AttentionForward(float* out, float* att, const float* qkv, int64_t batch, int64_t seq,
                      int64_t heads, int64_t head_size) {
  const int64_t c = heads * head_size, c3 = 3 * c;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_size));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* base = qkv + b * seq * c3 + h * head_size;
      for (int64_t t = 0; t < seq; ++t) {
        const float* q = base + t * c3;
        float* row = att + ((b * heads + h) * seq + t) * seq;
        float max = -INFINITY;
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float* k = base + t2 * c3 + c;
          float s = 0.0f;
          for (int64_t i = 0; i < head_size; ++i) s += q[i] * k[i];
          row[t2] = s * scale;
          max = std::fmax(max, row[t2]);
        }
        float sum = 0.0f;
        for (int64_t t2 = 0; t2 <= t; ++t2) sum += (row[t2] = std::exp(row[t2] - max));
        const float inv = 1.0f / sum;
        for (int64_t t2 = 0; t2 <= t; ++t2) row[t2] *= inv;
        for (int64_t t2 = t + 1; t2 < seq; ++t2) row[t2] = 0.0f;
        float* o = out + (b * seq + t) * c + h * head_size;
        for (int64_t i = 0; i < head_size; ++i) o[i] = 0.0f;
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float* v = base + t2 * c3 + 2 * c;
          for (int64_t i = 0; i < head_size; ++i) o[i] += row[t2] * v[i];
        }
      }
    }
  }
}

void AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* att,
                       int64_t batch, int64_t seq, int64_t heads, int64_t head_size) {
  const int64_t c = heads * head_size, c3 = 3 * c;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_size));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      std::vector<float> datt(seq);
      const float* base = qkv + b * seq * c3 + h * head_size;
      float* dbase = dqkv + b * seq * c3 + h * head_size;
      for (int64_t t = 0; t < seq; ++t) {
        const float* row = att + ((b * heads + h) * seq + t) * seq;
        const float* dy = dout + (b * seq + t) * c + h * head_size;
        // out = sum_t2 att[t2] v[t2]  ->  datt[t2] = dy . v[t2],  dv[t2] += att[t2] dy
        float dot = 0.0f;  // sum_j att[j] * datt[j], for the softmax backward
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float* v = base + t2 * c3 + 2 * c;
          float* dv = dbase + t2 * c3 + 2 * c;
          float d = 0.0f;
          for (int64_t i = 0; i < head_size; ++i) {
            d += dy[i] * v[i];
            dv[i] += row[t2] * dy[i];
          }
          datt[t2] = d;
          dot += row[t2] * d;
        }
        // softmax backward, then s = scale * q . k
        const float* q = base + t * c3;
        float* dq = dbase + t * c3;
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float dpre = row[t2] * (datt[t2] - dot) * scale;
          const float* k = base + t2 * c3 + c;
          float* dk = dbase + t2 * c3 + c;
          for (int64_t i = 0; i < head_size; ++i) {
            dq[i] += dpre * k[i];
            dk[i] += dpre * q[i];
          }
        }
      }
    }
  }
}

}  // namespace mt::cpu
