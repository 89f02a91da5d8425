// Single-process trainer (see trainer.h).
#include "launcher/worker/trainer.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <vector>

#include "fmt/format.h"
#include "launcher/worker/batch.h"
#include "launcher/worker/evaluate.h"
#include "launcher/worker/model_io.h"
#include "launcher/worker/progress.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/data/dataset.h"
#include "runtime/data/plan.h"
#include "runtime/kernels/cpu/gemm.h"
#include "runtime/metrics/jsonl_sink.h"
#include "runtime/nn/gpt.h"
#include "runtime/optim/adamw.h"
#include "runtime/optim/schedule.h"

namespace mt::worker {
namespace {

using json = nlohmann::json;
using meshtrain::v1::JobSpec;

// ---- data: the dataset, which samples train and which evaluate ----

struct TrainData {
  data::Dataset ds;
  std::string eval_split;             // "eval" when the dataset has one, else "train"
  int64_t train_samples = 0;          // train indices are [0, train_samples)
  std::vector<int64_t> eval_indices;  // in eval_split
};

absl::Status CheckFits(const JobSpec& spec, const data::DatasetIndex& index) {
  const auto& m = spec.model();
  if (index.vocab_size > m.vocab_size()) {
    return absl::InvalidArgumentError(
        fmt::format("data.uri: dataset vocab_size {} does not fit model.vocab_size {} ({})",
                    index.vocab_size, m.vocab_size(), spec.data().uri()));
  }
  if (index.sample_len < m.seq_len() + 1) {
    return absl::InvalidArgumentError(fmt::format(
        "data.uri: dataset samples have {} tokens; model.seq_len {} needs at least {} ({})",
        index.sample_len, m.seq_len(), m.seq_len() + 1, spec.data().uri()));
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainData> OpenData(const JobSpec& spec) {
  auto ds = data::Dataset::Open(spec.data().uri());
  if (!ds.ok()) return Annotate(ds.status(), "data.uri");
  MT_RETURN_IF_ERROR(CheckFits(spec, ds->index()));
  if (spec.data().loss_on() == "answers" && !ds->index().answer) {
    return absl::InvalidArgumentError(fmt::format(
        "data.loss_on: 'answers' needs a dataset that declares answer spans; {} does not",
        spec.data().uri()));
  }
  TrainData d;
  d.ds = std::move(*ds);
  const int64_t n = d.ds.Samples("train");
  if (d.ds.Samples("eval") > 0) {
    MT_LOG(kInfo, kData,
           "{}: using the dataset's own eval split ({} samples); data.eval_fraction "
           "applies only to datasets without one",
           spec.data().uri(), d.ds.Samples("eval"));
    d.eval_split = "eval";
    d.train_samples = n;
    d.eval_indices.resize(d.ds.Samples("eval"));
  } else {
    // No eval split in the dataset: hold out the last eval_fraction of the train samples.
    d.eval_split = "train";
    const int64_t held = static_cast<int64_t>(n * spec.data().eval_fraction());
    d.train_samples = n - held;
    d.eval_indices.resize(held);
  }
  std::iota(d.eval_indices.begin(), d.eval_indices.end(),
            d.eval_split == "eval" ? 0 : d.train_samples);
  if (d.train_samples <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("data.uri: no training samples in {}", spec.data().uri()));
  }
  return d;
}

// ---- one optimizer step ----

struct StepResult {
  double loss = 0;
  optim::StepStats stats;
};

int DpSize(const comm::Backend* comm) { return comm ? comm->size() : 1; }
int DpRank(const comm::Backend* comm) { return comm ? comm->rank() : 0; }

// Averages every gradient and the loss over the data-parallel ranks with one all-reduce of a
// flat buffer (a handful of large messages beat ~50 small ones on TCP). Bucketed overlap
// with backward is the parallelism issue's job.
absl::Status AverageOverRanks(nn::Gpt& model, comm::Backend& comm, double& loss,
                              std::vector<float>& flat) {
  const auto params = model.Parameters();
  int64_t n = 1;
  for (const nn::Parameter* p : params) n += p->grad.numel();
  flat.resize(n);
  float* out = flat.data();
  for (const nn::Parameter* p : params) {
    out = std::copy_n(p->grad.Data<float>(), p->grad.numel(), out);
  }
  *out = static_cast<float>(loss);
  comm::Options options;
  options.op = comm::ReduceOp::kAvg;
  auto work = comm.AllReduce(flat.data(), n, DType::kF32, options);
  if (absl::Status s = work->Wait(options.timeout); !s.ok()) {
    return Annotate(s, "gradient all-reduce");
  }
  const float* in = flat.data();
  for (nn::Parameter* p : params) {
    std::copy_n(in, p->grad.numel(), p->grad.Data<float>());
    in += p->grad.numel();
  }
  loss = *in;
  return absl::OkStatus();
}

absl::StatusOr<StepResult> TrainStep(nn::Gpt& model, optim::AdamW& opt, data::DataPlan& plan,
                                     const TrainData& d, const JobSpec& spec, int64_t step,
                                     double lr, Batch& batch, comm::Backend* comm,
                                     std::vector<float>& flat) {
  // This rank's slice of the global batch, cut into micro-batches (DESIGN §3 data plan).
  const int64_t micro_batches = spec.parallel().micro_batches();
  const int64_t global = spec.train().global_batch();
  const data::Slice slice = data::RankSlice(step * global, global, DpSize(comm), DpRank(comm));
  const int64_t micro_size = (slice.end - slice.begin) / micro_batches;
  StepResult r;
  model.ZeroGrad();
  std::vector<int64_t> pick(micro_size);
  for (int64_t mb = 0; mb < micro_batches; ++mb) {
    for (int64_t i = 0; i < micro_size; ++i) {
      pick[i] = plan.IndexAt(slice.begin + mb * micro_size + i);
    }
    BuildBatch(d.ds, "train", pick, spec.model().seq_len(), batch,
               spec.data().loss_on() == "answers");
    r.loss += model.Forward(batch.tokens.data(), batch.targets.data(), batch.batch, batch.seq) /
              micro_batches;
    model.Backward(1.0f / static_cast<float>(micro_batches));
  }
  if (DpSize(comm) > 1) MT_RETURN_IF_ERROR(AverageOverRanks(model, *comm, r.loss, flat));
  if (!std::isfinite(r.loss)) {
    r.stats.finite = false;
    return r;
  }
  r.stats = opt.Step(lr);
  return r;
}

}  // namespace

namespace {

void LogGemmProvider() {
  const cpu::GemmProviderInfo info = cpu::GemmInfo();
  const auto rate = cpu::MeasureGemmGflops(512, 512, 512, 0.05);
  MT_LOG(kInfo, kTrain, "GEMM: OpenBLAS {} kernels, {} threads, {:.0f} GFLOP/s at 512^3", info.core,
         info.threads, rate.value_or(0.0));
  if (auto warning = cpu::GemmWarning()) MT_LOG(kWarn, kTrain, "{}", *warning);
}

optim::AdamWConfig AdamWConfigFrom(const meshtrain::v1::TrainSpec& t) {
  optim::AdamWConfig c;
  c.beta1 = t.beta1();
  c.beta2 = t.beta2();
  c.eps = t.eps();
  c.weight_decay = t.weight_decay();
  c.clip = t.clip();
  return c;
}

optim::LrSchedule ScheduleFrom(const meshtrain::v1::TrainSpec& t) {
  return optim::LrSchedule{t.lr(), t.min_lr_ratio(), t.warmup(), t.steps(), t.schedule()};
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Evaluation split over the data-parallel ranks: rank r scores batches r, r + dp, ... of
// the same sequence one process would score, and the per-rank sums are all-reduced, so the
// result equals the single-process evaluation.
absl::StatusOr<EvalResult> EvaluateShared(nn::Gpt& model, const TrainData& d, const JobSpec& spec,
                                          comm::Backend* comm) {
  const int64_t batch = spec.train().global_batch() / spec.parallel().micro_batches();
  const int64_t batches = spec.eval().batches();
  const int dp = DpSize(comm), rank = DpRank(comm);
  std::vector<int64_t> mine;
  int64_t my_batches = 0;
  for (int64_t b = rank; b < batches && !d.eval_indices.empty(); b += dp, ++my_batches) {
    for (int64_t i = 0; i < batch; ++i) {
      mine.push_back(d.eval_indices[(b * batch + i) % d.eval_indices.size()]);
    }
  }
  EvalResult r = Evaluate(model, d.ds, d.eval_split, mine, batch, my_batches,
                          spec.data().loss_on() == "answers");
  if (dp == 1) return r;
  // Sums: loss over batches, batches, correct answers, answers.
  std::vector<float> sums = {
      static_cast<float>(r.loss * my_batches), static_cast<float>(my_batches),
      static_cast<float>(r.accuracy.value_or(0) * r.answers), static_cast<float>(r.answers)};
  auto work = comm->AllReduce(sums.data(), 4, DType::kF32);
  if (absl::Status s = work->Wait(comm::Options{}.timeout); !s.ok()) {
    return Annotate(s, "evaluation all-reduce");
  }
  EvalResult all;
  all.loss = sums[1] > 0 ? sums[0] / sums[1] : 0;
  all.answers = static_cast<int64_t>(std::lround(sums[3]));
  if (r.accuracy || all.answers > 0) {
    if (all.answers > 0) all.accuracy = std::round(sums[2]) / sums[3];
  }
  return all;
}

// Evaluates and (on rank 0) records the result; returns it for the summary.
absl::StatusOr<EvalResult> RunEval(nn::Gpt& model, const TrainData& d, const JobSpec& spec,
                                   int64_t step, comm::Backend* comm, metrics::JsonlSink* sink,
                                   Progress& progress) {
  MT_ASSIGN_OR_RETURN(EvalResult r, EvaluateShared(model, d, spec, comm));
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

absl::Status WriteSummary(const TrainOptions& o, const TrainSummary& s) {
  json j = {{"final_step", s.steps},       {"world_size", DpSize(o.comm)},
            {"generations", o.generation}, {"restarts", o.restarts},
            {"final_loss", s.final_loss},  {"tokens_per_s", s.tokens_per_s},
            {"wall_s", s.wall_s},          {"skipped_updates", s.skipped_updates}};
  if (s.eval_loss) j["eval_loss"] = *s.eval_loss;
  if (s.eval_accuracy) j["eval_accuracy"] = *s.eval_accuracy;
  return WriteFileAtomic(o.run_dir + "/summary.json", j.dump(2) + "\n");
}

}  // namespace

const char* PhaseName(int phase) {
  static const char* kNames[] = {"startup", "train", "eval", "finish"};
  return phase >= 0 && phase < 4 ? kNames[phase] : "?";
}

namespace {

void SetPhase(LiveProgress* live, int phase) {
  if (live) live->phase.store(phase);
}

// What only rank 0 does: the metrics file and the progress line.
struct Reporter {
  std::optional<metrics::JsonlSink> sink;
  metrics::JsonlSink* get() { return sink ? &*sink : nullptr; }
};

}  // namespace

absl::StatusOr<TrainSummary> Train(const TrainOptions& o) {
  const JobSpec& spec = o.spec;
  const auto start = std::chrono::steady_clock::now();
  const bool lead = DpRank(o.comm) == 0;
  SetPhase(o.live, 0);
  if (lead) MT_RETURN_IF_ERROR(MakeDirs(o.run_dir));
  LogGemmProvider();
  if (spec.has_checkpoint() && lead) {
    MT_LOG(kWarn, kCkpt,
           "checkpoint: this build does not write checkpoints yet (issue #7); the "
           "block is validated and ignored");
  }
  MT_ASSIGN_OR_RETURN(TrainData d, OpenData(spec));
  MT_ASSIGN_OR_RETURN(auto model,
                      nn::Gpt::Create(nn::GptConfig::FromSpec(spec.model()), spec.train().seed()));
  optim::AdamW opt(model->Parameters(), AdamWConfigFrom(spec.train()));
  const optim::LrSchedule schedule = ScheduleFrom(spec.train());
  data::DataPlan plan(d.train_samples, static_cast<uint64_t>(spec.data().shuffle_seed()));
  Reporter report;
  if (lead) {
    report.sink.emplace();
    MT_RETURN_IF_ERROR(report.sink->Open(o.run_dir + "/metrics.jsonl", /*truncate=*/true));
  }
  Progress progress(spec.train().steps());
  const int64_t tokens_per_step = int64_t{spec.train().global_batch()} * spec.model().seq_len();
  TrainSummary summary;
  Batch batch;
  std::vector<float> flat;
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_steps = 0;
  SetPhase(o.live, 1);
  for (int64_t step = 0; step < spec.train().steps(); ++step) {
    const double lr = schedule.At(step);
    MT_ASSIGN_OR_RETURN(StepResult r,
                        TrainStep(*model, opt, plan, d, spec, step, lr, batch, o.comm, flat));
    if (!r.stats.finite) {
      if (spec.train().nan_policy() == "stop") {
        progress.Finish();
        return absl::InternalError(fmt::format(
            "train: non-finite loss or gradient at step {} (loss {}, grad norm {}); stopping "
            "(set train.nan_policy: skip to drop such updates)",
            step + 1, r.loss, r.stats.grad_norm));
      }
      ++summary.skipped_updates;
      MT_LOG(kWarn, kTrain, "step {}: non-finite loss/gradient, update skipped", step + 1);
    }
    ++window_steps;
    summary.steps = step + 1;
    summary.final_loss = r.loss;
    if (o.live) o.live->step.store(step + 1);
    const bool last = step + 1 == spec.train().steps();
    if ((step + 1) % spec.train().log_every() == 0 || last) {
      const double rate = window_steps * tokens_per_step / Seconds(window_start);
      if (o.live) o.live->tokens_per_s.store(rate);
      if (lead) {
        MT_RETURN_IF_ERROR(report.sink->Write({{"step", step + 1},
                                               {"loss", r.loss},
                                               {"lr", lr},
                                               {"grad_norm", r.stats.grad_norm},
                                               {"tokens_per_s", rate}}));
        if (!o.quiet) progress.Update(step + 1, r.loss, lr, rate, Seconds(start));
      }
      window_start = std::chrono::steady_clock::now();
      window_steps = 0;
    }
    if (last || (spec.eval().every() > 0 && (step + 1) % spec.eval().every() == 0)) {
      SetPhase(o.live, 2);
      MT_ASSIGN_OR_RETURN(EvalResult e,
                          RunEval(*model, d, spec, step + 1, o.comm, report.get(), progress));
      summary.eval_loss = e.loss;
      summary.eval_accuracy = e.accuracy;
      SetPhase(o.live, 1);
    }
  }
  SetPhase(o.live, 3);
  if (lead) progress.Finish();
  summary.wall_s = Seconds(start);
  summary.tokens_per_s = summary.steps * tokens_per_step / summary.wall_s;
  if (lead) {
    MT_RETURN_IF_ERROR(SaveModel(o.run_dir + "/model.safetensors", *model, spec, summary.steps));
    MT_RETURN_IF_ERROR(WriteSummary(o, summary));
  }
  return summary;
}

}  // namespace mt::worker
