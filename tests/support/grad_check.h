// Finite-difference gradient checking for kernels and layers.
//
// The scalar checked is L = sum(out * R) for a fixed random R, so dL/dout = R is what backward
// receives. Central differences in fp32 with step `eps`; a component passes when
// |numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|). Reports the worst
// component with max abs/rel difference (llm.c style).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mt::testing {

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

inline double Dot(const float* a, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < r.size(); ++i) s += double(a[i]) * r[i];
  return s;
}

struct GradCheckOptions {
  float eps = 1e-2f;
  double atol = 1e-3;
  double rtol = 1e-2;
  size_t max_components = 200;  // sampled evenly when the tensor is larger
};

// `loss` recomputes L from the current contents of `x`. `analytic` is dL/dx from backward.
inline void ExpectGradMatches(const std::string& what, std::vector<float>& x,
                              const std::vector<float>& analytic,
                              const std::function<double()>& loss, const GradCheckOptions& o = {}) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  const size_t stride = std::max<size_t>(1, x.size() / o.max_components);
  double max_abs = 0, max_rel = 0;
  size_t worst = 0, bad = 0;
  for (size_t i = 0; i < x.size(); i += stride) {
    const float saved = x[i];
    x[i] = saved + o.eps;
    const double plus = loss();
    x[i] = saved - o.eps;
    const double minus = loss();
    x[i] = saved;
    const double numeric = (plus - minus) / (2.0 * o.eps);
    const double diff = std::fabs(numeric - analytic[i]);
    const double scale = std::max(std::fabs(numeric), std::fabs(double(analytic[i])));
    if (diff > max_abs) max_abs = diff, worst = i;
    if (scale > 0) max_rel = std::max(max_rel, diff / scale);
    if (diff > o.atol + o.rtol * scale) ++bad;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " components off; max abs diff " << max_abs << " at "
                     << worst << " (analytic " << analytic[worst] << "), max rel " << max_rel;
}

}  // namespace mt::testing
