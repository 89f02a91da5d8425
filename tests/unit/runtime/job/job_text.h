// Test helpers: a valid job file and a way to load variants of it.
#pragma once

#include <string>
#include <vector>

#include "runtime/job/load.h"

namespace mt::job::testing {

// A complete, valid job (world 8 = dp 2 x tp 2 x pp 2). Line numbers matter to some tests.
inline constexpr char kValidJob[] = R"(name: unit-job
model: {n_layer: 4, n_head: 4, d_model: 64, seq_len: 32, vocab_size: 128}
data: {uri: file:///tmp/data}
mesh: {dp: 2, tp: 2, pp: 2}
parallel: {micro_batches: 4}
train: {global_batch: 16, steps: 10, lr: 1e-3}
)";

// Formatted problems from loading `text` (empty: valid).
inline std::vector<std::string> Problems(const std::string& text, int world = 0) {
  LoadOptions options;
  options.world = world;
  std::vector<std::string> out;
  for (const Problem& p : LoadJobText(text, "job.yaml", options).problems) {
    out.push_back(FormatProblem(p));
  }
  return out;
}

// kValidJob with the line starting with `key:` replaced by `line` (or appended if absent).
inline std::string With(const std::string& key, const std::string& line) {
  std::string text = std::string("\n") + kValidJob;
  size_t pos = text.find("\n" + key + ":");
  if (pos == std::string::npos) return text.substr(1) + line + "\n";
  size_t end = text.find('\n', pos + 1);
  return text.substr(1, pos) + line + text.substr(end);
}

}  // namespace mt::job::testing
