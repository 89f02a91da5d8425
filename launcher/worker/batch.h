// Turns dataset samples into model inputs: tokens = sample[0, T), targets = sample[1, T]; the
// dataset's pad token is never a target (-1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"

namespace mt::worker {

struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets;  // [batch * seq]
};

// Fills `out` with the samples `indices` of `split`, using the first seq + 1 tokens of each.
void BuildBatch(const data::Dataset& ds, const std::string& split,
                const std::vector<int64_t>& indices, int64_t seq, Batch& out);

}  // namespace mt::worker
