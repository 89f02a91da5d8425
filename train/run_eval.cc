// Evaluation during a run (see run_eval.h).
#include "train/run_eval.h"

#include <cmath>
#include <vector>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::train {
namespace {

using json = nlohmann::json;
using meshtrain::v1::JobSpec;

// Evaluation split over the data-parallel ranks: rank r scores batches r, r + dp, ... of
// the same sequence one process would score, and the per-rank sums are all-reduced, so the
// result equals the single-process evaluation.
absl::StatusOr<EvalResult> EvaluateShared(ParallelModel& pm, const TrainData& d,
                                          const JobSpec& spec) {
  MT_RETURN_IF_ERROR(pm.SyncHost(/*optimizer=*/false));  // device: cuda: eval runs on the host
  const int64_t batch = d.eval_batch;
  const int64_t batches = d.eval_batches;
  const int dp = pm.shape().dp, rank = pm.coords().dp;
  std::vector<int64_t> mine;  // positions in d.eval_table
  int64_t my_batches = 0;
  for (int64_t b = rank; b < batches && d.eval_size > 0; b += dp, ++my_batches) {
    for (int64_t i = 0; i < batch; ++i) mine.push_back((b * batch + i) % d.eval_size);
  }
  MT_ASSIGN_OR_RETURN(
      EvalSums r, Evaluate(pm.EvalFn(), spec.model().seq_len(), d.index, d.eval_table, mine, batch,
                           my_batches, spec.data().loss_on() == "answers"));
  // Sums over the dp ranks (their batches) and the pipeline stages (only the head's has any).
  std::vector<float> sums = {static_cast<float>(r.loss), static_cast<float>(r.targets),
                             static_cast<float>(r.correct), static_cast<float>(r.answers)};
  for (comm::Backend* group : {pm.dp_group(), pm.pp_group()}) {
    if (group == nullptr) continue;
    auto work = group->AllReduce(sums.data(), 4, DType::kF32);
    MT_RETURN_IF_ERROR(Annotate(work->Wait(comm::Options{}.timeout), "evaluation all-reduce"));
  }
  EvalSums all;
  all.loss = sums[0];
  all.targets = std::llround(sums[1]);
  all.correct = std::lround(sums[2]);
  all.answers = std::lround(sums[3]);
  return all.Result(d.index.answer.has_value());
}

}  // namespace

// Evaluates and (on rank 0) records the result; returns it for the summary.
absl::StatusOr<EvalResult> RunEval(ParallelModel& pm, const TrainData& d, const JobSpec& spec,
                                   int64_t step, Reporter* sink, Progress& progress) {
  MT_ASSIGN_OR_RETURN(EvalResult r, EvaluateShared(pm, d, spec));
  if (!sink) return r;
  json rec = {{"step", step}, {"eval_loss", r.loss}};
  std::string line = fmt::format("eval @ step {}: loss {:.4f}", step, r.loss);
  if (r.accuracy) {
    rec["eval_accuracy"] = *r.accuracy;
    line +=
        fmt::format(", exact-match accuracy {:.1f}% of {} answers", 100 * *r.accuracy, r.answers);
  }
  MT_RETURN_IF_ERROR(sink->Write(rec));
  progress.Note(line);
  return r;
}

}  // namespace mt::train
