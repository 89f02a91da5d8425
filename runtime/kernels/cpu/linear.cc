// Linear layer kernels on GEMM (see linear.h).
#include "runtime/kernels/cpu/linear.h"

#include <cstring>

#include "runtime/kernels/cpu/gemm.h"

namespace mt::cpu {

void LinearForward(float* out, const float* inp, const float* w, const float* b, int64_t rows,
                   int64_t in_f, int64_t out_f) {
  // Seed the output with the bias so the GEMM adds into it (beta = 1): one pass, no extra loop.
  float beta = 0.0f;
  if (b != nullptr) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * out_f, b, out_f * sizeof(float));
    beta = 1.0f;
  }
  Gemm(false, true, rows, out_f, in_f, 1.0f, inp, in_f, w, in_f, beta, out, out_f);
}

void LinearBackward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                    const float* w, int64_t rows, int64_t in_f, int64_t out_f) {
  if (dinp != nullptr) {
    Gemm(false, false, rows, in_f, out_f, 1.0f, dout, out_f, w, in_f, 1.0f, dinp, in_f);
  }
  Gemm(true, false, out_f, in_f, rows, 1.0f, dout, out_f, inp, in_f, 1.0f, dw, in_f);
  if (db != nullptr) {
    // Each output feature is summed by one thread over all rows: deterministic.
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < out_f; ++o) {
      float s = 0.0f;
      for (int64_t r = 0; r < rows; ++r) s += dout[r * out_f + o];
      db[o] += s;
    }
  }
}

}  // namespace mt::cpu
