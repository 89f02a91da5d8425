// Data audit records (see data_audit.h).
#include "launcher/coordinator/data_audit.h"

#include <sstream>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::coord {

absl::StatusOr<std::unique_ptr<DataAudit>> DataAudit::Open(const std::string& path) {
  auto audit = std::make_unique<DataAudit>();
  audit->path_ = path;
  if (path.empty()) return audit;
  auto text = ReadFile(path);
  if (!text.ok() && text.status().code() != absl::StatusCode::kNotFound) return text.status();
  std::istringstream lines(text.ok() ? *text : "");
  int line_no = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("uri") || !j.contains("xxh64")) {
      // A torn last line (a crash mid-write) is expected; anything else is someone's edit.
      MT_LOG(kWarn, kCoord, "{}:{}: not a data audit record; ignored", path, line_no);
      continue;
    }
    audit->seen_.emplace(j["uri"].get<std::string>(), j["xxh64"].get<std::string>());
  }
  return audit;
}

std::vector<nlohmann::json> DataAudit::Record(
    int rank, int64_t generation,
    const google::protobuf::RepeatedPtrField<meshtrain::v1::ShardRead>& reads) {
  std::vector<nlohmann::json> fresh;
  std::lock_guard<std::mutex> lock(mu_);
  for (const meshtrain::v1::ShardRead& r : reads) {
    if (!seen_.emplace(r.uri(), r.xxh64()).second) continue;
    fresh.push_back(
        {{"uri", r.uri()},
         {"xxh64", r.xxh64()},
         {"bytes", r.bytes()},
         {"rank", rank},
         {"generation", generation},
         {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone())}});
    if (!path_.empty()) unwritten_.push_back(fresh.back());
  }
  WriteLocked();
  return fresh;
}

void DataAudit::WriteLocked() {
  // A record stays queued until it is written: workers report each shard once, so a failed
  // write is retried here (with a reopened file) on the next call, not by a later report.
  size_t done = 0;
  absl::Status s;
  for (; done < unwritten_.size(); ++done) {
    if (!open_) s = sink_.Open(path_, /*truncate=*/false);
    open_ = s.ok();
    if (s.ok()) s = sink_.Write(unwritten_[done]);
    if (!s.ok()) {
      open_ = false;
      MT_LOG(kWarn, kCoord, "data audit: {} ({} record(s) kept for the next try)",
             std::string(s.message()), unwritten_.size() - done);
      break;
    }
  }
  unwritten_.erase(unwritten_.begin(), unwritten_.begin() + static_cast<std::ptrdiff_t>(done));
}

int64_t DataAudit::shards() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(seen_.size());
}

}  // namespace mt::coord
