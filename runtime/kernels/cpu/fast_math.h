// Branch-free exp and tanh in plain float arithmetic, so loops using them vectorise (libm's
// expf/tanhf are scalar calls: GELU through tanhf took ~30% of a CPU training step).
// FastExp: Cody-Waite range reduction + degree-6 polynomial (Cephes expf), max relative error
// ~2e-7 over [-87, 88]; inputs are clamped to that range. Deterministic: no libm involved.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace mt::cpu {

inline float FastExp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);  // maxss/minss: no branch in the loop
  // Round x / ln2 to the nearest integer with the 1.5 * 2^23 trick: two adds, which vectorise
  // on plain SSE2 (floorf needs SSE4.1 and otherwise becomes a scalar call).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;  // ln2 split in two for an exact reduction
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// tanh(x) = 1 - 2 / (exp(2x) + 1): exact limits at +-inf, relative error ~1e-6 near 0.
inline float FastTanh(float x) { return 1.0f - 2.0f / (FastExp(2.0f * x) + 1.0f); }

}  // namespace mt::cpu
