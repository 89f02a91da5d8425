// The commit protocol's last step (DESIGN §3 "Checkpoints"): every rank writes its shard,
// then reports it; when all world_size ranks of a version reported, the committer writes the
// manifest and moves LATEST, then applies retention. The coordinator runs one for a
// multi-process job; a single-process run uses one in process. Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "checkpoint/store/store.h"

namespace mt::ckpt {

class Committer {
 public:
  Committer(std::shared_ptr<CheckpointStore> store, int64_t world_size, int keep_last)
      : store_(std::move(store)), world_size_(world_size), keep_last_(keep_last) {}

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
  std::mutex mu_;                        // guards pending_
  std::map<int64_t, Manifest> pending_;  // version -> fields + files reported so far
  std::mutex io_mu_;                     // one commit + retention at a time, outside mu_
  std::atomic<int64_t> last_committed_{0};
};

}  // namespace mt::ckpt
