// The single-process training loop: data -> model -> AdamW, with evaluation, metrics and a
// final summary. The parallel worker (mesh, collectives, checkpoints) wraps the same loop.
//
// Writes into run_dir: metrics.jsonl (one record per logged step and per evaluation), and at
// the end model.safetensors (the trained parameters and the job) and summary.json (atomically).
// Fails with a Status naming the job field or file at fault: missing dataset, vocabulary or
// sequence length mismatch, non-finite loss.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/store/committer.h"
#include "checkpoint/store/manifest.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/comm/backend.h"
#include "runtime/data/index.h"

namespace mt::train {

// Where a run is (heartbeats report it; `meshtrain status` shows it).
enum class Phase : int { kStartup, kTrain, kEval, kFinish };
const char* PhaseName(Phase phase);  // "startup", "train", "eval", "finish"

// What the heartbeat thread reports while Train() runs (written by the training thread).
struct LiveProgress {
  std::atomic<int64_t> step{0};
  std::atomic<Phase> phase{Phase::kStartup};
  std::atomic<double> tokens_per_s{0};

  // The mesh's communicators ("dp", "tp", "pp"), while Train holds them (set after the mesh is
  // built, cleared before it goes). ForEachComm runs `fn` under the lock, so a communicator is
  // never used after Train let it go.
  using NamedComm = std::pair<std::string, const comm::Backend*>;
  void SetComms(std::vector<NamedComm> named) {
    std::lock_guard<std::mutex> lock(comms_mu_);
    comms_ = std::move(named);
  }
  void ForEachComm(const std::function<void(const std::string&, const comm::Backend&)>& fn) const {
    std::lock_guard<std::mutex> lock(comms_mu_);
    for (const auto& [name, c] : comms_) fn(name, *c);
  }

 private:
  mutable std::mutex comms_mu_;
  std::vector<NamedComm> comms_;
};

// Where a fine-tune's starting weights are: a model.safetensors file (`uri` ends in
// .safetensors) or version `checkpoint_version` of a checkpoint store (any saved mesh).
struct BaseWeights {
  std::string uri;
  int64_t checkpoint_version = 0;
  std::string label;  // for the log: "add2-gpt v3"
};

struct TrainOptions {
  meshtrain::v1::JobSpec spec;
  std::string run_dir;
  bool quiet = false;  // no progress line (tests)
  // Data parallelism over `comm` (null: one process). Every rank reads its slice of each
  // global batch; gradients and the loss are averaged with one all-reduce per step, so all
  // ranks apply the same update. Only rank 0 writes into run_dir.
  comm::Backend* comm = nullptr;
  LiveProgress* live = nullptr;  // optional
  // The audit hook: called (from loader threads) for every shard fetched and verified.
  std::function<void(const data::ShardInfo&)> on_shard_read;
  // Resume: "" (the job's checkpoint.resume), "latest", "never" or a version number.
  std::string resume;
  // Set (to the signal number) by a signal handler to stop between steps: pending checkpoint
  // saves finish, then Train returns Cancelled "interrupted at step N". Null: never.
  const std::atomic<int>* stop = nullptr;
  // Resume even when the job changes the checkpoint's trajectory (CheckStart); else refused.
  bool allow_job_change = false;
  // Reports each written checkpoint shard for commit (the coordinator, multi-process); when
  // unset, a single process commits its own versions.
  std::function<absl::Status(const ckpt::Manifest&)> report_checkpoint;
  // One process: the versions of the checkpoint store (given its URI) that retention keeps
  // whatever checkpoint.keep_last says, those the registry references (the coordinator has its
  // own). Unset: none.
  std::function<ckpt::Committer::Protected(const std::string& store_uri)> protect;
  // finetune.base: the weights the base names (a registered version, resolved by the
  // launcher's registry); its errors are returned as they are, so they should name the field.
  // Required when the job has a finetune block and is not resuming.
  std::function<absl::StatusOr<BaseWeights>(const std::string& base)> resolve_base;
  int64_t generation = 1;  // recorded in summary.json
  int restarts = 0;
  // The lead rank's logged scalars as they are written (the metrics fan-in: heartbeats to the
  // coordinator, or straight to the control service in one process). Optional.
  using Scalars = std::vector<std::pair<std::string, double>>;
  std::function<void(int64_t step, const Scalars& values)> on_metrics;
  // One process: each checkpoint version it commits, and the store's URI (the audit).
  std::function<void(const std::string& store_uri, const ckpt::Manifest& committed)> on_commit;
};

struct TrainSummary {
  int64_t steps = 0;
  double final_loss = 0;
  std::optional<double> eval_loss, eval_accuracy;
  double tokens_per_s = 0;
  double wall_s = 0;
  int64_t skipped_updates = 0;      // non-finite steps dropped under nan_policy: skip
  double data_wait_s = 0;           // time this rank's steps waited for the loader
  double checkpoint_blocked_s = 0;  // time training waited for checkpoint saves
  int64_t resumed_from = 0;         // checkpoint version resumed from (0: fresh)
  double allreduce_exposed_s = 0;   // dp > 1: time steps waited for gradient all-reduces
  // The checkpoint resumed is at train.steps already: nothing was trained or written (the
  // run dir's summary and model are the finished run's). steps and resumed_from say where.
  bool already_complete = false;
};

absl::StatusOr<TrainSummary> Train(const TrainOptions& options);

// FailedPrecondition naming what this trainer cannot run here, else OK: device: cuda with a
// mesh larger than one process or with parallel.virtual_stages > 1, in a build without CUDA,
// or where no CUDA device is visible. Train checks it; launchers check it first, before any
// process, coordinator or backend starts.
absl::Status CheckTrainable(const meshtrain::v1::JobSpec& spec);

}  // namespace mt::train
