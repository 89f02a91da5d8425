// Turns dataset samples into model inputs: tokens = sample[0, T), targets = sample[1, T]; the
// dataset's pad token is never a target (-1). With answers_only, only targets inside the
// dataset's answer spans count (from the prompt-ending token through the end token).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/data/index.h"

namespace mt::train {

struct Batch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> tokens, targets;  // [batch * seq]
};

// Fills `out` with `count` samples stored back to back in `samples` (index.sample_len tokens
// each, as the dataset stores them), using the first seq + 1 tokens of each.
void BuildBatch(const data::DatasetIndex& index, const uint16_t* samples, int64_t count,
                int64_t seq, Batch& out, bool answers_only = false);

// Sets every target outside an answer span to -1 (one sample of `seq` positions).
void MaskToAnswers(const int32_t* tokens, int32_t* targets, int64_t seq,
                   const data::AnswerSpans& spans);

}  // namespace mt::train
