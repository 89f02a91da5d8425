// What bench/train's CPU and GPU benchmarks count the same way for a GPT training step.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mt::bench {

// (out, in) of every linear layer one step multiplies by: per block the QKV projection, the
// attention output, MLP up and down (d_ff = 4 * d_model); then the tied LM head. Each runs
// three GEMMs a step (forward, input gradient, weight gradient).
inline std::vector<std::pair<int64_t, int64_t>> StepGemmShapes(int64_t layers, int64_t d_model,
                                                               int64_t vocab) {
  const int64_t d = d_model, f = 4 * d_model;
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (int64_t l = 0; l < layers; ++l) {
    for (auto s : {std::pair{3 * d, d}, std::pair{d, d}, std::pair{f, d}, std::pair{d, f}}) {
      shapes.push_back(s);
    }
  }
  shapes.push_back({vocab, d});
  return shapes;
}

// Model FLOPs per token: 6N + 12 * L * T * C (N = parameters; the attention term counts the
// full T x T scores, PaLM's convention).
inline double FlopsPerToken(int64_t params, int64_t layers, int64_t seq, int64_t d_model) {
  return 6.0 * params + 12.0 * layers * seq * d_model;
}

}  // namespace mt::bench
