// The commit protocol's last step (DESIGN §3 "Checkpoints"): every rank writes its shard,
// then reports it; when all world_size ranks of a version reported, the committer writes the
// manifest and moves LATEST, then applies retention. The coordinator runs one for a
// multi-process job; a single-process run uses one in process. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "absl/status/statusor.h"
#include "checkpoint/store/store.h"

namespace mt::ckpt {

class Committer {
 public:
  // Versions retention must keep besides the newest keep_last: those the model registry
  // references (the launcher, which knows the registry, supplies it). An error skips that
  // round of retention: nothing is deleted that might still be referenced.
  using Protected = std::function<absl::StatusOr<std::set<int64_t>>()>;

  // Called after each commit with the committed manifest (every rank's file): the audit.
  using OnCommit = std::function<void(const Manifest& committed)>;

  Committer(std::shared_ptr<CheckpointStore> store, int64_t world_size, int keep_last,
            Protected protect = {}, OnCommit on_commit = {})
      : store_(std::move(store)),
        world_size_(world_size),
        keep_last_(keep_last),
        protect_(std::move(protect)),
        on_commit_(std::move(on_commit)) {}

  // Rank `file.rank` wrote `file` for the version `fields` describes (every rank sends the
  // same fields; `fields.files` is ignored). Returns true when this report completed and
  // committed the version. A report that disagrees with the version's first (step, cursor)
  // is FailedPrecondition; a duplicate is ignored.
  absl::StatusOr<bool> Report(const Manifest& fields, const FileEntry& file);
  // The last version this committer committed (0: none yet).
  int64_t last_committed() const;

 private:
  std::shared_ptr<CheckpointStore> store_;
  const int64_t world_size_;
  const int keep_last_;
  const Protected protect_;
  const OnCommit on_commit_;
  std::mutex mu_;                        // guards pending_
  std::map<int64_t, Manifest> pending_;  // version -> fields + files reported so far
  std::mutex io_mu_;                     // one commit + retention at a time, outside mu_
  std::atomic<int64_t> last_committed_{0};
};

}  // namespace mt::ckpt
