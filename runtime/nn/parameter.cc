// Parameter helpers (see parameter.h).
#include "runtime/nn/parameter.h"

#include <cmath>
#include <random>

namespace mt::nn {
namespace {

// FNV-1a: a stable hash of the parameter name (std::hash may differ between libraries).
uint64_t HashName(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

void FillNormal(Parameter& p, uint64_t seed, float stddev) {
  // Box-Muller on mt19937_64 bits: std::normal_distribution is not specified bit-for-bit.
  std::mt19937_64 gen(seed ^ HashName(p.name));
  auto uniform = [&gen] { return (static_cast<double>(gen() >> 11) + 0.5) * 0x1.0p-53; };
  float* data = p.value.Data<float>();
  const int64_t n = p.value.numel();
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = 2.0 * M_PI * uniform();
    data[i] = static_cast<float>(r * std::cos(a)) * stddev;
    if (i + 1 < n) data[i + 1] = static_cast<float>(r * std::sin(a)) * stddev;
  }
}

int64_t CountElements(const std::vector<Parameter>& params) {
  int64_t n = 0;
  for (const Parameter& p : params) n += p.value.numel();
  return n;
}

}  // namespace mt::nn
