// What bench/train's CPU and GPU benchmarks count the same way for a GPT training step.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"

namespace mt::bench {

// The GPT and batch shape both training benchmarks take on the command line.
struct StepShape {
  int64_t layers, heads, d_model, seq, vocab, batch;
  int steps;
};

inline void AddShapeOptions(CLI::App& app, StepShape& s) {
  app.add_option("--layers", s.layers);
  app.add_option("--heads", s.heads);
  app.add_option("--d-model", s.d_model);
  app.add_option("--seq", s.seq);
  app.add_option("--vocab", s.vocab);
  app.add_option("--batch", s.batch);
  app.add_option("--steps", s.steps);
}

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
