// Checkpoint commits (see committer.h).
#include "checkpoint/store/committer.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::ckpt {

absl::StatusOr<bool> Committer::Report(const Manifest& fields, const FileEntry& file) {
  std::lock_guard<std::mutex> lock(mu_);
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
  MT_RETURN_IF_ERROR(store_->Commit(done));
  last_committed_ = std::max(last_committed_, done.version);
  MT_LOG(kInfo, kCkpt, "checkpoint version {} committed (step {}, {} files) in {}", done.version,
         done.step, done.files.size(), store_->uri());
  auto pruned = store_->Prune(keep_last_, {});
  if (!pruned.ok()) {
    MT_LOG(kWarn, kCkpt, "checkpoint retention: {}", std::string(pruned.status().message()));
  } else if (!pruned->empty()) {
    MT_LOG(kInfo, kCkpt, "checkpoint retention removed {} version(s), oldest {}", pruned->size(),
           pruned->front());
  }
  return true;
}

int64_t Committer::last_committed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_committed_;
}

}  // namespace mt::ckpt
