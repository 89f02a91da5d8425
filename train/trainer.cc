// The training loop (see trainer.h). Train() reads as its three sections: start (the model,
// the checkpoints, the data, the records), the steps (each: data -> model -> AdamW, then the
// log line, evaluation and checkpoint when due) and finish (the saver drained, the totals
// logged, the model file and the summary written). The parts live beside it: run_data (the
// dataset), run_checkpoints (resume, saver, fine-tune base), run_eval, run_report.
#include "train/trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "fmt/format.h"
#include "parallelism/data_parallel/buckets.h"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/job/summary.h"
#include "runtime/kernels/cpu/gemm.h"
#include "runtime/nn/model.h"
#include "runtime/optim/schedule.h"
#include "train/device_model.h"
#include "train/model_io.h"
#include "train/parallel_model.h"
#include "train/progress.h"
#include "train/run_checkpoints.h"
#include "train/run_data.h"
#include "train/run_eval.h"
#include "train/run_report.h"
#include "train/start_check.h"

namespace mt::train {
namespace {

using meshtrain::v1::JobSpec;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void SetPhase(LiveProgress* live, Phase phase) {
  if (live) live->phase.store(phase);
}

// Logs the GEMM library and returns its measured rate (FLOP/s): the CPU peak MFU is
// measured against.
double LogGemmProvider() {
  const cpu::GemmProviderInfo info = cpu::GemmInfo();
  const auto rate = cpu::MeasureGemmGflops(512, 512, 512, 0.05);
  MT_LOG(kInfo, kTrain, "GEMM: OpenBLAS {} kernels, {} threads, {:.0f} GFLOP/s at 512^3", info.core,
         info.threads, rate.value_or(0.0));
  if (auto warning = cpu::GemmWarning()) MT_LOG(kWarn, kTrain, "{}", *warning);
  return rate.value_or(0.0) * 1e9;
}

// Training FLOPs per token (forward and backward, PaLM's count): 6 per parameter plus the
// attention scores, 12 * n_layer * seq_len * d_model.
double FlopsPerToken(const meshtrain::v1::ModelSpec& m) {
  return 6.0 * static_cast<double>(job::ParameterCount(m)) +
         12.0 * m.n_layer() * m.seq_len() * m.d_model();
}

double PeakRssBytes() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024;  // KiB on Linux
}

optim::LrSchedule ScheduleFrom(const meshtrain::v1::TrainSpec& t) {
  return optim::LrSchedule{t.lr(), t.min_lr_ratio(), t.warmup(), t.steps(), t.schedule()};
}

// One run while it trains: what the start section makes, the steps read and update, and the
// finish section reports. Owned by Train(); nothing outlives it.
struct Run {
  explicit Run(const TrainOptions& options)
      : o(options),
        spec(options.spec),
        schedule(ScheduleFrom(options.spec.train())),
        progress(options.spec.train().steps()),
        tokens_per_step(int64_t{options.spec.train().global_batch()} *
                        options.spec.model().seq_len()) {}

  const TrainOptions& o;
  const JobSpec& spec;
  Clock::time_point start = Clock::now();
  ParallelModel::Ptr pm;
  bool lead = false;    // rank 0: the only one writing into run_dir
  bool traces = false;  // tp 0 of the first stage: writes its dp rank's trace line
  Checkpoints ckpt;
  DpSlice slice;
  TrainData data;
  const optim::LrSchedule schedule;
  std::optional<Reporter> report;  // the lead rank's records
  Progress progress;
  DataTrace trace;
  const int64_t tokens_per_step;
  TrainSummary summary;
  // The steps since the last log line, for its tokens/s; evaluation and checkpoint time in
  // the window is not training time and is left out.
  Clock::time_point window_start;
  int64_t window_steps = 0;
  double window_excluded_s = 0;
  double peak_flops = 0;  // the whole world's (CPU: the measured GEMM rate x ranks); 0: unknown
};

// ---- start: model, checkpoints, data, records ----

absl::Status OpenReport(Run& run) {
  if (!run.lead) return absl::OkStatus();
  const RestoredState& restored = run.ckpt.restored;
  run.report.emplace();
  run.report->on_metrics = run.o.on_metrics;
  MT_RETURN_IF_ERROR(run.report->Open(run.o.run_dir, restored.version > 0));
  // TensorBoard drops what a resumed or restarted run logs again after this marker.
  if (restored.version > 0 || run.o.generation > 1) {
    MT_RETURN_IF_ERROR(run.report->Restart(restored.step));
  }
  return absl::OkStatus();
}

// Everything before the first step. Collective over the world (the model's groups, the
// checkpoint restore), so every rank calls it.
absl::Status Start(Run& run) {
  const TrainOptions& o = run.o;
  SetPhase(o.live, Phase::kStartup);
  if (run.spec.device() != "cuda") {
    run.peak_flops = LogGemmProvider() * (o.comm ? o.comm->size() : 1);
  }
  MT_ASSIGN_OR_RETURN(run.pm, ParallelModel::Create(run.spec, o.comm));
  ParallelModel& pm = *run.pm;
  if (o.live) {  // heartbeats report each mesh communicator's last collective
    std::vector<LiveProgress::NamedComm> comms;
    for (auto [name, group] : {std::pair{"dp", pm.dp_group()}, std::pair{"tp", pm.tp_group()},
                               std::pair{"pp", pm.pp_group()}}) {
      if (group != nullptr) comms.emplace_back(name, group);
    }
    o.live->SetComms(std::move(comms));
  }
  run.lead = pm.lead();
  run.traces = pm.coords().tp == 0 && pm.coords().pp == 0;
  if (run.lead) MT_RETURN_IF_ERROR(MakeDirs(o.run_dir));
  MT_ASSIGN_OR_RETURN(run.ckpt, SetUpCheckpoints(o, pm));
  const RestoredState& restored = run.ckpt.restored;
  // A resumed fine-tune continues from its own checkpoint instead.
  if (run.spec.has_finetune() && restored.version == 0) MT_RETURN_IF_ERROR(InitFromBase(o, pm));
  run.slice = DpSlice{pm.shape().dp, pm.coords().dp};
  MT_ASSIGN_OR_RETURN(run.data, OpenData(run.spec, run.slice, o.on_shard_read, restored.cursor));
  MT_RETURN_IF_ERROR(OpenReport(run));
  run.summary.steps = restored.step;
  run.window_start = Clock::now();
  return absl::OkStatus();
}

// ---- steps: data -> model -> AdamW, then what is due ----

// nan_policy: stop fails the run; skip counts the dropped update (the step applied none).
absl::Status OnNonFinite(Run& run, int64_t step, const StepResult& r) {
  if (run.spec.train().nan_policy() == "stop") {
    run.progress.Finish();
    return absl::InternalError(fmt::format(
        "train: non-finite loss or gradient at step {} (loss {}, grad norm {}); stopping "
        "(set train.nan_policy: skip to drop such updates)",
        step + 1, r.loss, r.stats.grad_norm));
  }
  ++run.summary.skipped_updates;
  MT_LOG(kWarn, kTrain, "step {}: non-finite loss/gradient, update skipped", step + 1);
  return absl::OkStatus();
}

// Every train.log_every steps and at the last: the tokens/s of the window, the metrics record
// and the progress line (lead rank).
absl::Status LogStep(Run& run, int64_t done, double lr, const StepResult& r) {
  const double train_s = std::max(1e-9, Seconds(run.window_start) - run.window_excluded_s);
  const double rate = run.window_steps * run.tokens_per_step / train_s;
  if (run.o.live) run.o.live->tokens_per_s.store(rate);
  if (run.lead) {
    MT_RETURN_IF_ERROR(run.report->Write({{"step", done},
                                          {"loss", r.loss},
                                          {"lr", lr},
                                          {"grad_norm", r.stats.grad_norm},
                                          {"tokens_per_s", rate}}));
    if (!run.o.quiet) {
      const int64_t this_run = done - run.ckpt.restored.step;
      Progress::Numbers n;
      n.loss = r.loss;
      n.lr = lr;
      n.tokens_per_s = rate;
      n.mfu = run.peak_flops > 0 ? rate * FlopsPerToken(run.spec.model()) / run.peak_flops : 0;
      n.peak_bytes = PeakRssBytes();
      n.eta_s = Seconds(run.start) / this_run * (run.spec.train().steps() - done);
      run.progress.Update(done, n);
    }
  }
  run.window_start = Clock::now();
  run.window_steps = 0;
  run.window_excluded_s = 0;
  return absl::OkStatus();
}

absl::Status EvalNow(Run& run, int64_t done) {
  SetPhase(run.o.live, Phase::kEval);
  MT_ASSIGN_OR_RETURN(EvalResult e, RunEval(*run.pm, run.data, run.spec, done,
                                            run.report ? &*run.report : nullptr, run.progress));
  run.summary.eval_loss = e.loss;
  run.summary.eval_accuracy = e.accuracy;
  SetPhase(run.o.live, Phase::kTrain);
  return absl::OkStatus();
}

// Saves version `done` with the data cursor after this step's global batch (`batch`).
absl::Status SaveNow(Run& run, int64_t done, const data::Samples& batch, const StepResult& r) {
  std::map<std::string, double> metrics = {{"loss", r.loss}};
  if (run.summary.eval_loss) metrics["eval_loss"] = *run.summary.eval_loss;
  if (run.summary.eval_accuracy) metrics["eval_accuracy"] = *run.summary.eval_accuracy;
  ParallelModel& pm = *run.pm;
  MT_RETURN_IF_ERROR(pm.GatherState());
  MT_RETURN_IF_ERROR(run.ckpt.saver->Save(pm.model(), pm.CheckpointState(), done,
                                          batch.position + run.spec.train().global_batch(),
                                          metrics));
  pm.ReleaseState();
  return absl::OkStatus();
}

bool Due(int64_t done, int64_t every) { return every > 0 && done % every == 0; }

// Step `step` (0-based) and what falls due after it.
absl::Status TrainStep(Run& run, int64_t step) {
  const JobSpec& spec = run.spec;
  const double lr = run.schedule.At(step);
  auto mine = run.data.loader->Next();
  if (!mine.ok()) return Annotate(mine.status(), "data.uri");
  if (run.traces) MT_RETURN_IF_ERROR(run.trace.Record(run.slice.rank, step, *mine));
  MT_ASSIGN_OR_RETURN(StepResult r, run.pm->Step(*mine, run.data.index, lr));
  if (!r.stats.finite) MT_RETURN_IF_ERROR(OnNonFinite(run, step, r));
  const int64_t done = step + 1;
  ++run.window_steps;
  run.summary.steps = done;
  run.summary.final_loss = r.loss;
  if (run.o.live) run.o.live->step.store(done);
  const bool last = done == spec.train().steps();
  if (last || Due(done, spec.train().log_every())) MT_RETURN_IF_ERROR(LogStep(run, done, lr, r));
  const auto aside = Clock::now();  // evaluation and saving: not training time
  if (last || Due(done, spec.eval().every())) MT_RETURN_IF_ERROR(EvalNow(run, done));
  const int64_t every = spec.has_checkpoint() ? spec.checkpoint().every() : 0;
  if (run.ckpt.saver && (last || Due(done, every))) {
    MT_RETURN_IF_ERROR(SaveNow(run, done, *mine, r));
  }
  run.window_excluded_s += Seconds(aside);
  return absl::OkStatus();
}

// ---- finish: the saver drained, the totals, the model file and the summary ----

void LogTotals(Run& run) {
  TrainSummary& s = run.summary;
  if (run.ckpt.saver) {
    MT_LOG(kInfo, kCkpt, "{} checkpoint(s) saved; training waited {:.2f} s for them",
           run.ckpt.saver->saves(), run.ckpt.saver->blocked_s());
  }
  if (const dp::GradBuckets* buckets = run.pm->buckets()) {
    MT_LOG(kInfo, kComm,
           "data parallel: {} gradient bucket(s); steps waited {:.2f} s for all-reduces after "
           "backward ({:.1f}% of the run)",
           buckets->size(), buckets->exposed_s(), 100 * buckets->exposed_s() / s.wall_s);
  }
  const data::LoaderStats ds = run.data.loader->stats();
  MT_LOG(kInfo, kData,
         "loader: {} shards fetched ({:.1f} MiB), {} cache hits, {} misses, {} evictions; the "
         "steps waited {:.2f} s for data ({:.1f}% of the run)",
         ds.cache.fetches, ds.cache.bytes_fetched / 1048576.0, ds.cache.hits, ds.cache.misses,
         ds.cache.evictions, ds.wait_s, 100 * ds.wait_s / s.wall_s);
}

// The whole model into RUN_DIR/model.safetensors (gathered from the tensor and pipeline slices
// when there are any; collective) and summary.json, by the lead rank.
absl::Status WriteResults(Run& run) {
  ParallelModel& pm = *run.pm;
  std::unique_ptr<nn::Model> full;
  MT_RETURN_IF_ERROR(pm.SyncHost(/*optimizer=*/false));  // the model file holds values only
  if (pm.shape().tp > 1 || pm.shape().pp > 1) {
    MT_ASSIGN_OR_RETURN(full, pm.GatherFull());
  }
  if (!run.lead) return absl::OkStatus();
  MT_RETURN_IF_ERROR(SaveModel(run.o.run_dir + "/model.safetensors", full ? *full : pm.model(),
                               run.spec, run.summary.steps));
  return WriteSummary(run.o, run.summary);
}

absl::Status Finish(Run& run) {
  TrainSummary& s = run.summary;
  if (run.ckpt.saver) {
    MT_RETURN_IF_ERROR(run.ckpt.saver->Wait());
    s.checkpoint_blocked_s = run.ckpt.saver->blocked_s();
  }
  s.resumed_from = run.ckpt.restored.version;
  if (const dp::GradBuckets* buckets = run.pm->buckets()) {
    s.allreduce_exposed_s = buckets->exposed_s();
  }
  SetPhase(run.o.live, Phase::kFinish);
  if (run.lead) run.progress.Finish();
  s.wall_s = Seconds(run.start);
  s.tokens_per_s = (s.steps - run.ckpt.restored.step) * run.tokens_per_step / s.wall_s;
  s.data_wait_s = run.data.loader->stats().wait_s;
  LogTotals(run);
  return WriteResults(run);
}

// A stop asked between steps: the saves already started are finished (they commit), nothing
// else is written.
absl::Status Interrupted(Run& run, int64_t step) {
  if (run.ckpt.saver) MT_RETURN_IF_ERROR(run.ckpt.saver->Wait());
  if (run.lead) run.progress.Finish();
  return absl::CancelledError(
      fmt::format("interrupted at step {} of {}", step, run.spec.train().steps()));
}

}  // namespace

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kStartup:
      return "startup";
    case Phase::kTrain:
      return "train";
    case Phase::kEval:
      return "eval";
    case Phase::kFinish:
      return "finish";
  }
  return "?";
}

absl::Status CheckTrainable(const JobSpec& spec) {
  if (spec.device() != "cuda") return absl::OkStatus();
  if (!DeviceModel::Built()) return DeviceModel::CheckDevice();
  const auto& m = spec.mesh();
  if (m.dp() * m.tp() * m.pp() != 1) {
    return absl::FailedPreconditionError(fmt::format(
        "device: cuda: the trainer drives one GPU (mesh 1 x 1 x 1) so far; this job's mesh is "
        "dp {} x tp {} x pp {}. Data, tensor and pipeline parallelism run on device: cpu",
        m.dp(), m.tp(), m.pp()));
  }
  if (spec.parallel().virtual_stages() > 1) {  // the GPU model holds its layers in one piece
    return absl::FailedPreconditionError(
        fmt::format("parallel.virtual_stages: {} needs device: cpu (the GPU model is one chunk)",
                    spec.parallel().virtual_stages()));
  }
  return DeviceModel::CheckDevice();  // last: the job's own refusals hold on any machine
}

absl::StatusOr<TrainSummary> Train(const TrainOptions& o) {
  MT_RETURN_IF_ERROR(CheckTrainable(o.spec));  // refused before any work (exit 2)
  // A changed job is refused, and a finished one changes nothing, before any state is built.
  MT_ASSIGN_OR_RETURN(StartCheck begin, CheckStart(o.spec, o.resume, o.allow_job_change));
  if (begin.complete) {
    TrainSummary done;
    done.already_complete = true;
    done.steps = begin.step;
    done.resumed_from = begin.version;
    return done;
  }
  Run run(o);
  // The mesh's communicators leave the heartbeats before Run (which owns them) goes.
  struct ForgetComms {
    LiveProgress* live;
    ~ForgetComms() {
      if (live) live->SetComms({});
    }
  } forget{o.live};
  MT_RETURN_IF_ERROR(Start(run));
  SetPhase(o.live, Phase::kTrain);
  for (int64_t step = run.ckpt.restored.step; step < o.spec.train().steps(); ++step) {
    if (o.stop != nullptr && o.stop->load() != 0) return Interrupted(run, step);
    MT_RETURN_IF_ERROR(TrainStep(run, step));
  }
  MT_RETURN_IF_ERROR(Finish(run));
  return run.summary;
}

}  // namespace mt::train
