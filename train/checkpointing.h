// A run's training state in the checkpoint store: saving it every checkpoint.every steps
// (synchronously or from a host snapshot in the background) and restoring it on resume.
//
// What is saved: every parameter and its two AdamW moments (names "<param>", "optim.m.<param>",
// "optim.v.<param>"), the step, the optimizer's update count and the data cursor (the global
// sample position of the next step). Under tensor parallelism a rank saves its slice of each
// tensor as the rectangles nn::SlicePieces names (global shape and offset recorded); tensors
// replicated over tp are saved by tp rank 0, the LM head's copy of the tied embedding never.
// The dp replicas of a slice spread the work (ckpt::ParametersToSave): each slice is written
// exactly once. Every rank writes a shard (possibly without tensors) and reports it; the version is
// committed when all have (checkpoint/store/committer.h).
//
// Restore works out (checkpoint/reshard), for each tensor this rank holds, which saved slices
// overlap its own rectangles, reads those (each verified against its checksum, each file against
// the manifest) and copies the overlaps in: any (dp, tp, pp) resumes a checkpoint of any other mesh
// of the same model. Files without a tensor this rank needs are not read.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/async/snapshot_writer.h"
#include "checkpoint/format/shard.h"
#include "checkpoint/store/store.h"
#include "runtime/comm/backend.h"
#include "runtime/nn/model.h"
#include "runtime/optim/adamw.h"

namespace mt::train {

// Reports a written shard: to the coordinator (multi-process) or to an in-process Committer.
using ShardReporter = std::function<absl::Status(const ckpt::Manifest& fields)>;

struct CheckpointerOptions {
  std::shared_ptr<ckpt::CheckpointStore> store;
  int rank = 0, world = 1;  // in the whole mesh: one shard file per rank
  int dp = 1, dp_rank = 0;  // replicas of this rank's slices, and which one this rank is
  std::vector<int64_t> mesh = {1, 1, 1};
  std::string job_hash;
  std::string job_json;  // the job spec, kept in each manifest
  uint64_t seed = 0;
  bool async = false;
  int64_t parent = 0;  // the version this run resumed from (0: none)
  ShardReporter report;
};

class Checkpointer {
 public:
  // Numbers this run's versions above everything in the store (called at startup, before
  // any rank can save).
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Create(CheckpointerOptions options);

  // Saves the state after `step` steps; `cursor` is the next step's global sample position.
  // Async: copies the state now and writes it in the background, after waiting for the
  // previous save. Errors of a background save surface here or in Wait().
  absl::Status Save(nn::Model& model, optim::AdamW& opt, int64_t step, int64_t cursor,
                    std::map<std::string, double> metrics);
  absl::Status Wait();
  // Time Save and Wait kept training waiting, in seconds.
  double blocked_s() const { return writer_.blocked_s(); }
  int64_t saves() const { return saves_; }

 private:
  explicit Checkpointer(CheckpointerOptions options) : o_(std::move(options)), writer_(o_.async) {}
  absl::Status Write(int64_t version, ckpt::Shard shard, ckpt::Manifest fields);

  CheckpointerOptions o_;
  int64_t next_version_ = 0;
  int64_t saves_ = 0;
  ckpt::SnapshotWriter writer_;
};

struct RestoredState {
  int64_t version = 0, step = 0, optimizer_step = 0, cursor = 0;
};

// Loads `version` (0: the newest) into the model and optimizer (whatever part of the model
// the rank holds: its placement decides what is read). With version 0 a damaged
// version (DataLoss) is skipped for the newest older one that loads (each skip logged);
// NotFound when the store has no committed version. An explicit version that is damaged, or
// whose tensors do not fit the model, is an error naming the file and the tensor.
absl::StatusOr<RestoredState> Restore(ckpt::CheckpointStore& store, int64_t version,
                                      nn::Model& model, optim::AdamW& opt);

// Restore on every rank of `world` (collective; null: one process), to one version: ranks read
// only the files they need, so with version 0 a damaged file can send some ranks back to an
// older version than others. The ranks compare what they loaded; those ahead reload the oldest
// one, and any rank's failure fails every rank (Aborted on the ranks that did not fail).
// NotFound on every rank when the store has no committed version.
absl::StatusOr<RestoredState> RestoreTogether(comm::Backend* world, ckpt::CheckpointStore& store,
                                              int64_t version, nn::Model& model, optim::AdamW& opt);

}  // namespace mt::train
