// Held-out evaluation: mean cross-entropy, and (when the dataset declares answer spans) exact-
// match accuracy of greedy decoding.
//
// Why one forward pass suffices for greedy exact match: greedy decoding reproduces the answer
// exactly iff, at every answer position, the argmax given the true prefix is the true next
// token (the first wrong argmax is where greedy output would diverge). So the answer span
// "=915\n" counts as correct iff argmax matches at each of its targets, end token included.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data/index.h"
#include "runtime/nn/model.h"
#include "train/batch.h"

namespace mt::train {

struct EvalResult {
  double loss = 0;
  std::optional<double> accuracy;  // set when the dataset has answer spans
  int64_t answers = 0;             // spans scored
};

// Span accuracy of one batch given the model's arg-max prediction per position (teacher
// forced: a span is right when every one of its tokens is predicted, which is what greedy
// decoding would produce): {correct, total}.
std::pair<int64_t, int64_t> ScoreAnswerSpans(const Batch& batch, const int32_t* predictions,
                                             const data::AnswerSpans& spans);

// Sums over evaluated batches; a mesh adds them up over its ranks before EvalResult.
// The loss is weighted by counted targets, so the mean is per target token and does not
// depend on how the samples are cut into batches (micro_batches, dp).
struct EvalSums {
  double loss = 0;      // sum over batches of (batch mean loss x its counted targets)
  int64_t targets = 0;  // counted targets (those that are not -1)
  int64_t correct = 0, answers = 0;
  EvalResult Result(bool has_answers) const;
};

// Runs the model on one batch: its loss and per-position predictions where the LM head is
// (a pipeline stage without it returns nullopt and contributes nothing).
struct EvalOutput {
  float loss = 0;
  const int32_t* predictions = nullptr;
};
using EvalForward = std::function<absl::StatusOr<std::optional<EvalOutput>>(const Batch&)>;

// Evaluates `batches` batches of `batch_size` samples: the samples of `table` (stored back to
// back, as the dataset stores them) at `picks`, in order, wrapping. The loss counts the same
// targets as training (answers_only as in data.loss_on).
absl::StatusOr<EvalSums> Evaluate(const EvalForward& forward, int64_t seq,
                                  const data::DatasetIndex& index,
                                  const std::vector<uint16_t>& table,
                                  const std::vector<int64_t>& picks, int64_t batch_size,
                                  int64_t batches, bool answers_only);

}  // namespace mt::train
