// GELU, tanh approximation (as GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#pragma once

#include <cstdint>

namespace mt::cpu {

void GeluForward(float* out, const float* inp, int64_t n);
// dinp += dout * gelu'(inp)
void GeluBackward(float* dinp, const float* inp, const float* dout, int64_t n);

}  // namespace mt::cpu
