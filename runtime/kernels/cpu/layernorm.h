// LayerNorm over the last dimension (eps 1e-5, biased variance, as torch.nn.LayerNorm).
#pragma once

#include <cstdint>

namespace mt::cpu {

inline constexpr float kLayerNormEps = 1e-5f;

// out = (inp - mean) * rstd * w + b per row of c; saves mean and rstd [rows] for backward.
void LayerNormForward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                      const float* b, int64_t rows, int64_t c);

// Accumulates dinp, dw, db (+=) from dout, using the saved mean/rstd.
void LayerNormBackward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                       const float* w, const float* mean, const float* rstd, int64_t rows,
                       int64_t c);

}  // namespace mt::cpu
