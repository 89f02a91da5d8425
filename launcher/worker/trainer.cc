// Single-process trainer (see trainer.h).
#include "launcher/worker/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <vector>

#include "absl/strings/numbers.h"
#include "checkpoint/store/committer.h"
#include "control/registry/registry.h"
#include "control/service/open.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "launcher/worker/batch.h"
#include "launcher/worker/checkpointing.h"
#include "launcher/worker/device_model.h"
#include "launcher/worker/evaluate.h"
#include "launcher/worker/model_io.h"
#include "launcher/worker/parallel_model.h"
#include "launcher/worker/progress.h"
#include "nlohmann/json.hpp"
#include "parallelism/data_parallel/buckets.h"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/params.h"
#include "runtime/core/status.h"
#include "runtime/data/dataset.h"
#include "runtime/data/loader.h"
#include "runtime/job/job_id.h"
#include "runtime/kernels/cpu/gemm.h"
#include "runtime/metrics/jsonl_sink.h"
#include "runtime/metrics/tensorboard_sink.h"
#include "runtime/nn/gpt.h"
#include "runtime/optim/adamw.h"
#include "runtime/optim/schedule.h"
#include "runtime/storage/azure_store.h"
#include "runtime/storage/blob_store.h"

namespace mt::worker {
namespace {

using json = nlohmann::json;
using meshtrain::v1::JobSpec;

// ---- data: the streaming loader for training, the evaluation samples in memory ----

struct TrainData {
  data::DatasetIndex index;
  std::unique_ptr<data::Loader> loader;  // this rank's slice of every global batch
  // Evaluation walks the eval set in order, wrapping: the first min(size, batches * batch)
  // eval samples, read once at start (every rank holds them; each scores its own batches).
  std::vector<uint16_t> eval_table;
  int64_t eval_size = 0;
  int64_t eval_batch = 0;  // samples per evaluation batch (a training micro-batch's size)
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
  if (spec.data().loss_on() == "answers" && !index.answer) {
    return absl::InvalidArgumentError(fmt::format(
        "data.loss_on: 'answers' needs a dataset that declares answer spans; {} does not",
        spec.data().uri()));
  }
  return absl::OkStatus();
}

// Data parallelism: every rank of dp rank `dp_rank` (all its tp and pp peers) reads that
// slice of each global batch.
struct DpSlice {
  int dp = 1, rank = 0;
};

data::LoaderOptions LoaderOptionsFor(const JobSpec& spec, DpSlice slice, int64_t train_samples) {
  data::LoaderOptions o;
  o.global_batch = spec.train().global_batch();
  o.dp = slice.dp;
  o.dp_rank = slice.rank;
  o.num_samples = train_samples;
  o.seed = static_cast<uint64_t>(spec.data().shuffle_seed());
  o.window_shards = spec.data().shuffle_window();
  o.prefetch_shards = spec.data().prefetch();
  o.cache_bytes = int64_t{spec.data().cache_mb()} << 20;
  return o;
}

absl::StatusOr<TrainData> OpenData(const JobSpec& spec, DpSlice slice,
                                   std::function<void(const data::ShardInfo&)> on_fetched,
                                   int64_t cursor) {
  auto opened = storage::OpenBlobStore(spec.data().uri());
  if (!opened.ok()) return Annotate(opened.status(), "data.uri");
  std::shared_ptr<storage::BlobStore> store = std::move(*opened);
  auto index = data::OpenIndex(*store);
  if (!index.ok()) return Annotate(index.status(), "data.uri");
  MT_RETURN_IF_ERROR(CheckFits(spec, *index));
  TrainData d;
  d.index = std::move(*index);
  const int64_t n = d.index.Samples("train");
  std::string eval_split = "train";
  int64_t train_samples = n, eval_first = 0;
  if (d.index.Samples("eval") > 0) {
    MT_LOG(kInfo, kData,
           "{}: using the dataset's own eval split ({} samples); data.eval_fraction "
           "applies only to datasets without one",
           spec.data().uri(), d.index.Samples("eval"));
    eval_split = "eval";
    d.eval_size = d.index.Samples("eval");
  } else {
    // No eval split in the dataset: hold out the last eval_fraction of the train samples.
    d.eval_size = static_cast<int64_t>(n * spec.data().eval_fraction());
    train_samples = n - d.eval_size;
    eval_first = train_samples;
  }
  if (train_samples <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("data.uri: no training samples in {}", spec.data().uri()));
  }
  d.eval_batch = spec.train().global_batch() / spec.parallel().micro_batches();
  std::vector<int64_t> eval_ids(std::min(d.eval_size, spec.eval().batches() * d.eval_batch));
  std::iota(eval_ids.begin(), eval_ids.end(), eval_first);
  auto table = data::ReadSamples(*store, d.index, eval_split, eval_ids, on_fetched);
  if (!table.ok()) return Annotate(table.status(), "data.uri");
  d.eval_table = std::move(*table);
  data::LoaderOptions lo = LoaderOptionsFor(spec, slice, train_samples);
  lo.start_position = cursor;
  lo.on_fetched = std::move(on_fetched);
  auto loader = data::Loader::Open(store, d.index, "train", std::move(lo));
  if (!loader.ok()) {
    const bool cache = loader.status().code() == absl::StatusCode::kFailedPrecondition;
    return Annotate(loader.status(), cache ? "data.cache_mb" : "data.uri");
  }
  d.loader = std::move(*loader);
  return d;
}

// MT_DATA_TRACE: one line per rank and step with the sample ids trained on (exactly-once
// checks). Each line goes out in one flushed append (O_APPEND), so ranks sharing the file
// interleave whole lines.
class DataTrace {
 public:
  absl::Status Record(int rank, int64_t step, const data::Samples& s) {
    if (params::DataTrace().empty()) return absl::OkStatus();
    if (!open_) {
      MT_RETURN_IF_ERROR(sink_.Open(params::DataTrace(), /*truncate=*/false));
      open_ = true;
    }
    return sink_.Write({{"rank", rank}, {"step", step}, {"position", s.position}, {"ids", s.ids}});
  }

 private:
  metrics::JsonlSink sink_;
  bool open_ = false;
};

}  // namespace

namespace {

void LogGemmProvider() {
  const cpu::GemmProviderInfo info = cpu::GemmInfo();
  const auto rate = cpu::MeasureGemmGflops(512, 512, 512, 0.05);
  MT_LOG(kInfo, kTrain, "GEMM: OpenBLAS {} kernels, {} threads, {:.0f} GFLOP/s at 512^3", info.core,
         info.threads, rate.value_or(0.0));
  if (auto warning = cpu::GemmWarning()) MT_LOG(kWarn, kTrain, "{}", *warning);
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
absl::StatusOr<EvalResult> EvaluateShared(ParallelModel& pm, const TrainData& d,
                                          const JobSpec& spec) {
  MT_RETURN_IF_ERROR(pm.SyncHost(/*optimizer=*/false));  // device: cuda: eval runs on the host
  const int64_t batch = d.eval_batch;
  const int64_t batches = spec.eval().batches();
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
  std::vector<float> sums = {static_cast<float>(r.loss), static_cast<float>(r.batches),
                             static_cast<float>(r.correct), static_cast<float>(r.answers)};
  for (comm::Backend* group : {pm.dp_group(), pm.pp_group()}) {
    if (group == nullptr) continue;
    auto work = group->AllReduce(sums.data(), 4, DType::kF32);
    MT_RETURN_IF_ERROR(Annotate(work->Wait(comm::Options{}.timeout), "evaluation all-reduce"));
  }
  EvalSums all;
  all.loss = sums[0];
  all.batches = std::lround(sums[1]);
  all.correct = std::lround(sums[2]);
  all.answers = std::lround(sums[3]);
  return all.Result(d.index.answer.has_value());
}

// What only rank 0 does: the metrics file, TensorBoard events (RUN_DIR/tb) and the progress
// line. Every record goes to both sinks (its numbers as scalars at its step).
class Reporter {
 public:
  absl::Status Open(const std::string& run_dir, bool resumed) {
    // A resumed run continues its metrics; a fresh one starts them.
    MT_RETURN_IF_ERROR(jsonl_.Open(run_dir + "/metrics.jsonl", /*truncate=*/!resumed));
    return tb_.Open(run_dir + "/tb");
  }
  absl::Status Restart(int64_t step) { return tb_.Restart(step); }
  absl::Status Write(const json& record) {
    MT_RETURN_IF_ERROR(jsonl_.Write(record));
    TrainOptions::Scalars scalars;
    for (const auto& [k, v] : record.items()) {
      if (k != "step" && v.is_number()) scalars.emplace_back(k, v.get<double>());
    }
    const int64_t step = record.at("step").get<int64_t>();
    if (on_metrics) on_metrics(step, scalars);
    return tb_.Scalars(step, scalars);
  }

  std::function<void(int64_t, const TrainOptions::Scalars&)> on_metrics;

 private:
  metrics::JsonlSink jsonl_;
  metrics::TensorBoardSink tb_;
};

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

absl::Status WriteSummary(const TrainOptions& o, const TrainSummary& s) {
  json j = {{"final_step", s.steps},
            {"world_size", o.comm ? o.comm->size() : 1},
            {"generations", o.generation},
            {"restarts", o.restarts},
            {"final_loss", s.final_loss},
            {"tokens_per_s", s.tokens_per_s},
            {"wall_s", s.wall_s},
            {"skipped_updates", s.skipped_updates},
            {"data_wait_s", s.data_wait_s},
            {"checkpoint_blocked_s", s.checkpoint_blocked_s},
            {"resumed_from", s.resumed_from},
            {"allreduce_exposed_s", s.allreduce_exposed_s}};
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
}  // namespace

// ---- checkpoints: resume, then the saver ----

struct Checkpoints {
  std::unique_ptr<Checkpointer> saver;  // null without a checkpoint block
  RestoredState restored;               // version 0: a fresh start
};

// The version to resume: 0 for the latest, -1 for none, else the number.
absl::StatusOr<int64_t> ResumeVersion(const TrainOptions& o) {
  const std::string mode = o.resume.empty() ? o.spec.checkpoint().resume() : o.resume;
  if (mode == "latest") return 0;
  if (mode == "never") return -1;
  int64_t v = 0;
  if (!absl::SimpleAtoi(mode, &v) || v <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("--resume: '{}' is not latest, never or a version number", mode));
  }
  return v;
}

// TrainOptions::on_commit with the store's URI bound (null without a hook).
ckpt::Committer::OnCommit CommitHook(const TrainOptions& o, const ckpt::CheckpointStore& store) {
  if (!o.on_commit) return {};
  return [hook = o.on_commit, uri = store.uri()](const ckpt::Manifest& m) { hook(uri, m); };
}

absl::StatusOr<Checkpoints> SetUpCheckpoints(const TrainOptions& o, ParallelModel& pm) {
  Checkpoints c;
  if (!o.spec.has_checkpoint()) return c;
  nn::Gpt& model = pm.model();
  optim::AdamW& opt = pm.CheckpointState();
  auto store = ckpt::CheckpointStore::Open(o.spec.checkpoint().store());
  if (!store.ok()) return Annotate(store.status(), "checkpoint.store");
  if (pm.lead()) {  // before any rank saves (the first save follows a collective)
    MT_RETURN_IF_ERROR(
        Annotate(storage::EnsureContainer(o.spec.checkpoint().store()), "checkpoint.store"));
  }
  MT_ASSIGN_OR_RETURN(int64_t version, ResumeVersion(o));
  if (version >= 0) {
    auto restored = RestoreTogether(o.comm, **store, version, model, opt);
    if (restored.ok()) {
      c.restored = *restored;
      pm.ScatterState();
      MT_LOG(kInfo, kCkpt, "resumed from checkpoint version {} of {}: step {}, sample cursor {}",
             c.restored.version, (*store)->uri(), c.restored.step, c.restored.cursor);
    } else if (version == 0 && restored.status().code() == absl::StatusCode::kNotFound) {
      MT_LOG(kInfo, kCkpt, "no checkpoint in {} yet: starting fresh", (*store)->uri());
    } else {
      return Annotate(restored.status(), "resume");
    }
  }
  pm.ReleaseState();  // ZeRO-1: the full moments only live during a save or restore
  CheckpointerOptions co;
  co.store = *store;
  co.rank = o.comm ? o.comm->rank() : 0;
  co.world = o.comm ? o.comm->size() : 1;
  co.dp = pm.shape().dp;
  co.dp_rank = pm.coords().dp;
  co.mesh = {o.spec.mesh().dp(), o.spec.mesh().tp(), o.spec.mesh().pp()};
  co.job_hash = job::JobId(o.spec);
  if (!google::protobuf::util::MessageToJsonString(o.spec, &co.job_json).ok()) {
    return absl::InternalError("cannot serialise the job spec");
  }
  co.seed = static_cast<uint64_t>(o.spec.train().seed());
  co.async = o.spec.checkpoint().async();
  co.parent = c.restored.version;
  co.report = o.report_checkpoint;
  if (!co.report) {
    if (co.world > 1) return absl::InternalError("checkpoints of a multi-rank run need a reporter");
    // One process: it commits its own versions.
    ckpt::Committer::Protected protect;
    if (!o.registry_db.empty()) {
      protect = control::ProtectedCheckpoints(o.spec.control(), o.run_dir, (*store)->uri());
    }
    auto committer = std::make_shared<ckpt::Committer>(*store, 1, o.spec.checkpoint().keep_last(),
                                                       std::move(protect), CommitHook(o, **store));
    co.report = [committer](const ckpt::Manifest& fields) {
      return committer->Report(fields, fields.files.front()).status();
    };
  }
  MT_ASSIGN_OR_RETURN(c.saver, Checkpointer::Create(std::move(co)));
  return c;
}

// Fine-tuning (finetune.base): the weights of a registered version, from its checkpoint store
// (any saved mesh) or its model.safetensors; the optimizer, the step and the data position
// start fresh. The registry is the job's control service: embedded (TrainOptions::registry_db)
// or a running one (control.endpoint).
absl::Status InitFromBase(const TrainOptions& o, ParallelModel& pm) {
  const std::string& base = o.spec.finetune().base();
  meshtrain::v1::ControlSpec control = o.spec.control();
  if (control.endpoint() == "embedded") {
    std::error_code ec;
    if (!std::filesystem::exists(o.registry_db, ec)) {
      return absl::NotFoundError(
          fmt::format("finetune.base {}: no registry at {} (control.db)", base, o.registry_db));
    }
    control.set_db(o.registry_db);
  }
  MT_ASSIGN_OR_RETURN(auto api, control::OpenControl(control, o.run_dir));
  auto v = api->Resolve(base);
  if (!v.ok()) return Annotate(v.status(), "finetune.base");
  const std::string& uri = v->checkpoint_uri;
  if (uri.size() > 12 && uri.compare(uri.size() - 12, 12, ".safetensors") == 0) {
    const std::string path = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
    MT_RETURN_IF_ERROR(Annotate(LoadWeights(path, pm.model()), "finetune.base"));
  } else {
    auto store = ckpt::CheckpointStore::Open(uri);
    if (!store.ok()) return Annotate(store.status(), "finetune.base");
    optim::AdamW discarded(pm.model().Parameters(), optim::AdamWConfig{});
    MT_RETURN_IF_ERROR(Annotate(
        RestoreTogether(o.comm, **store, v->checkpoint_version, pm.model(), discarded).status(),
        "finetune.base"));
  }
  MT_LOG(kInfo, kTrain, "fine-tuning from {} v{} ({} version {})", v->model, v->version, uri,
         v->checkpoint_version);
  return absl::OkStatus();
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
  const JobSpec& spec = o.spec;
  MT_RETURN_IF_ERROR(CheckTrainable(spec));  // refused before any work (exit 2)
  const auto start = std::chrono::steady_clock::now();
  SetPhase(o.live, 0);
  if (spec.device() != "cuda") LogGemmProvider();
  MT_ASSIGN_OR_RETURN(auto pm, ParallelModel::Create(spec, o.comm));
  const bool lead = pm->lead();
  if (lead) MT_RETURN_IF_ERROR(MakeDirs(o.run_dir));
  MT_ASSIGN_OR_RETURN(Checkpoints ckpt, SetUpCheckpoints(o, *pm));
  const RestoredState& restored = ckpt.restored;
  // A resumed fine-tune continues from its own checkpoint instead.
  if (spec.has_finetune() && restored.version == 0) MT_RETURN_IF_ERROR(InitFromBase(o, *pm));
  const DpSlice slice{pm->shape().dp, pm->coords().dp};
  MT_ASSIGN_OR_RETURN(TrainData d, OpenData(spec, slice, o.on_shard_read, restored.cursor));
  // One trace line per dp rank and step: the rank at tp 0 of the first stage writes it.
  const bool traces = pm->coords().tp == 0 && pm->coords().pp == 0;
  const optim::LrSchedule schedule = ScheduleFrom(spec.train());
  std::optional<Reporter> report;
  if (lead) {
    report.emplace();
    report->on_metrics = o.on_metrics;
    MT_RETURN_IF_ERROR(report->Open(o.run_dir, restored.version > 0));
    // TensorBoard drops what a resumed or restarted run logs again after this marker.
    if (restored.version > 0 || o.generation > 1) {
      MT_RETURN_IF_ERROR(report->Restart(restored.step));
    }
  }
  Progress progress(spec.train().steps());
  const int64_t tokens_per_step = int64_t{spec.train().global_batch()} * spec.model().seq_len();
  TrainSummary summary;
  DataTrace trace;
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_steps = 0;
  SetPhase(o.live, 1);
  summary.steps = restored.step;
  for (int64_t step = restored.step; step < spec.train().steps(); ++step) {
    const double lr = schedule.At(step);
    auto mine = d.loader->Next();
    if (!mine.ok()) return Annotate(mine.status(), "data.uri");
    if (traces) MT_RETURN_IF_ERROR(trace.Record(slice.rank, step, *mine));
    MT_ASSIGN_OR_RETURN(StepResult r, pm->Step(*mine, d.index, lr));
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
        MT_RETURN_IF_ERROR(report->Write({{"step", step + 1},
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
                          RunEval(*pm, d, spec, step + 1, report ? &*report : nullptr, progress));
      summary.eval_loss = e.loss;
      summary.eval_accuracy = e.accuracy;
      SetPhase(o.live, 1);
    }
    const int64_t every = spec.has_checkpoint() ? spec.checkpoint().every() : 0;
    if (ckpt.saver && (last || (every > 0 && (step + 1) % every == 0))) {
      std::map<std::string, double> metrics = {{"loss", r.loss}};
      if (summary.eval_loss) metrics["eval_loss"] = *summary.eval_loss;
      if (summary.eval_accuracy) metrics["eval_accuracy"] = *summary.eval_accuracy;
      MT_RETURN_IF_ERROR(pm->GatherState());
      MT_RETURN_IF_ERROR(ckpt.saver->Save(pm->model(), pm->CheckpointState(), step + 1,
                                          mine->position + spec.train().global_batch(), metrics));
      pm->ReleaseState();
    }
  }
  if (ckpt.saver) {
    MT_RETURN_IF_ERROR(ckpt.saver->Wait());
    summary.checkpoint_blocked_s = ckpt.saver->blocked_s();
    MT_LOG(kInfo, kCkpt, "{} checkpoint(s) saved; training waited {:.2f} s for them",
           ckpt.saver->saves(), ckpt.saver->blocked_s());
  }
  summary.resumed_from = restored.version;
  if (const dp::GradBuckets* buckets = pm->buckets()) {
    summary.allreduce_exposed_s = buckets->exposed_s();
    MT_LOG(kInfo, kComm,
           "data parallel: {} gradient bucket(s); steps waited {:.2f} s for all-reduces after "
           "backward ({:.1f}% of the run)",
           buckets->size(), buckets->exposed_s(), 100 * buckets->exposed_s() / Seconds(start));
  }
  SetPhase(o.live, 3);
  if (lead) progress.Finish();
  summary.wall_s = Seconds(start);
  summary.tokens_per_s = (summary.steps - restored.step) * tokens_per_step / summary.wall_s;
  const data::LoaderStats ds = d.loader->stats();
  summary.data_wait_s = ds.wait_s;
  MT_LOG(kInfo, kData,
         "loader: {} shards fetched ({:.1f} MiB), {} cache hits, {} misses, {} evictions; the "
         "steps waited {:.2f} s for data ({:.1f}% of the run)",
         ds.cache.fetches, ds.cache.bytes_fetched / 1048576.0, ds.cache.hits, ds.cache.misses,
         ds.cache.evictions, ds.wait_s, 100 * ds.wait_s / summary.wall_s);
  // The whole model, gathered from the tensor and pipeline slices when there are any.
  std::unique_ptr<nn::Gpt> full;
  MT_RETURN_IF_ERROR(pm->SyncHost(/*optimizer=*/false));  // the model file holds values only
  if (pm->shape().tp > 1 || pm->shape().pp > 1) {
    MT_ASSIGN_OR_RETURN(full, pm->GatherFull());
  }
  if (lead) {
    MT_RETURN_IF_ERROR(SaveModel(o.run_dir + "/model.safetensors", full ? *full : pm->model(), spec,
                                 summary.steps));
    MT_RETURN_IF_ERROR(WriteSummary(o, summary));
  }
  return summary;
}

}  // namespace mt::worker
