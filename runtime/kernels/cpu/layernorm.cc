// LayerNorm kernels (see layernorm.h). Rows run in parallel; the weight/bias gradients are
// reduced from per-thread partials in thread order, so results are bit-identical run to run.
#include "runtime/kernels/cpu/layernorm.h"

#include <omp.h>

#include <cmath>
#include <vector>

namespace mt::cpu {

void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                      const float* b, int64_t rows, int64_t c) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = inp + r * c;
    float m = 0.0f;
    for (int64_t i = 0; i < c; ++i) m += x[i];
    m /= c;
    float v = 0.0f;
    for (int64_t i = 0; i < c; ++i) v += (x[i] - m) * (x[i] - m);
    v /= c;
    const float s = 1.0f / std::sqrt(v + kLayerNormEps);
    float* y = out + r * c;
    for (int64_t i = 0; i < c; ++i) y[i] = (x[i] - m) * s * w[i] + b[i];
    mean[r] = m;
    rstd[r] = s;
  }
}

void LayerNormBackward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                       const float* w, const float* mean, const float* rstd, int64_t rows,
                       int64_t c) {
  const int threads = omp_get_max_threads();
  std::vector<float> partial(static_cast<size_t>(threads) * 2 * c, 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* pdw = partial.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * c;
    float* pdb = pdw + c;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = inp + r * c;
      const float* dy = dout + r * c;
      float* dx = dinp + r * c;
      // dnorm = dy * w; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
      float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
      for (int64_t i = 0; i < c; ++i) {
        const float norm = (x[i] - mean[r]) * rstd[r];
        const float dnorm = dy[i] * w[i];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
        pdw[i] += dy[i] * norm;
        pdb[i] += dy[i];
      }
      dnorm_mean /= c;
      dnorm_norm_mean /= c;
      for (int64_t i = 0; i < c; ++i) {
        const float norm = (x[i] - mean[r]) * rstd[r];
        dx[i] += rstd[r] * (dy[i] * w[i] - dnorm_mean - norm * dnorm_norm_mean);
      }
    }
  }
  for (int t = 0; t < threads; ++t) {
    const float* pdw = partial.data() + static_cast<size_t>(t) * 2 * c;
    for (int64_t i = 0; i < c; ++i) {
      dw[i] += pdw[i];
      db[i] += pdw[c + i];
    }
  }
}

}  // namespace mt::cpu
