// Fully connected layer kernels: out = inp * W^T + b, W stored [out_features, in_features]
// (as torch.nn.Linear). Backward accumulates (+=) into every gradient it is given, so callers
// zero gradients once per step and micro-batches accumulate for free.
#pragma once

#include <cstdint>

namespace mt::cpu {

// out[rows, out_f] = inp[rows, in_f] * w[out_f, in_f]^T + b[out_f] (b may be null).
void LinearForward(float* out, const float* inp, const float* w, const float* b, int64_t rows,
                   int64_t in_f, int64_t out_f);

// dinp += dout * w; dw += dout^T * inp; db += column sums of dout. dinp/db may be null.
void LinearBackward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                    const float* w, int64_t rows, int64_t in_f, int64_t out_f);

}  // namespace mt::cpu
