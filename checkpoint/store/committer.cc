// Checkpoint commits (see committer.h).
#include "checkpoint/store/committer.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::ckpt {

absl::StatusOr<bool> Committer::Report(const Manifest& fields, const FileEntry& file) {
  std::unique_lock<std::mutex> lock(mu_);
  auto [it, first] = pending_.try_emplace(fields.version, fields);
  Manifest& m = it->second;
  if (first) m.files.clear();
  if (m.step != fields.step || m.cursor != fields.cursor) {
    return absl::FailedPreconditionError(fmt::format(
        "checkpoint version {}: rank {} reports step {} cursor {}, another rank step {} cursor {}",
        fields.version, file.rank, fields.step, fields.cursor, m.step, m.cursor));
  }
  for (const FileEntry& f : m.files) {
    if (f.rank == file.rank) return false;  // a retried report
  }
  m.files.push_back(file);
  if (static_cast<int64_t>(m.files.size()) < world_size_) return false;
  std::sort(m.files.begin(), m.files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.rank < b.rank; });
  m.created = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
  const Manifest done = std::move(m);
  pending_.erase(it);
  lock.unlock();  // storage I/O below: reports of other versions and status calls go on
  std::lock_guard<std::mutex> io(io_mu_);  // commits and retention one at a time
  MT_RETURN_IF_ERROR(store_->Commit(done));
  int64_t last = last_committed_.load();
  while (last < done.version && !last_committed_.compare_exchange_weak(last, done.version)) {
  }
  MT_LOG(kInfo, kCkpt, "checkpoint version {} committed (step {}, {} files) in {}", done.version,
         done.step, done.files.size(), store_->uri());
  if (on_commit_) on_commit_(done);
  absl::StatusOr<std::set<int64_t>> keep = std::set<int64_t>();
  if (protect_) keep = protect_();
  if (!keep.ok()) {
    MT_LOG(kWarn, kCkpt, "checkpoint retention skipped: the registry could not be read: {}",
           std::string(keep.status().message()));
    return true;
  }
  auto pruned = store_->Prune(keep_last_, *keep);
  if (!pruned.ok()) {
    MT_LOG(kWarn, kCkpt, "checkpoint retention: {}", std::string(pruned.status().message()));
  } else if (!pruned->empty()) {
    MT_LOG(kInfo, kCkpt, "checkpoint retention removed {} version(s), oldest {}", pruned->size(),
           pruned->front());
  }
  return true;
}

int64_t Committer::last_committed() const { return last_committed_.load(); }

}  // namespace mt::ckpt
