// The data audit: every distinct shard the job's workers read (URI, XXH64, size), reported with
// heartbeats and Finish, kept by the coordinator in an append-only JSON Lines file, one record
// per shard the first time any rank reports it:
//   {"uri": "az://acct/data/add2/train-00003.bin", "xxh64": "...", "bytes": 106496,
//    "rank": 2, "generation": 1, "time": "2026-11-29T05:01:02Z"}
// The same records go to the control service's audit log (hash chain) as "data read".
//
// A coordinator restarted on the same file continues it: records already there are not
// written again. Thread-safe.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "meshtrain/v1/coordinator.pb.h"
#include "runtime/metrics/jsonl_sink.h"

namespace mt::coord {

class DataAudit {
 public:
  // `path` empty: records are counted but not written.
  static absl::StatusOr<std::unique_ptr<DataAudit>> Open(const std::string& path);

  // Adds the reads not seen before and returns their records (for the control service's
  // audit); a write error is logged, not returned: the audit must not stop training. Records
  // not yet written are kept and retried on the next call.
  std::vector<nlohmann::json> Record(
      int rank, int64_t generation,
      const google::protobuf::RepeatedPtrField<meshtrain::v1::ShardRead>& reads);
  int64_t shards() const;

 private:
  std::string path_;
  mutable std::mutex mu_;
  std::set<std::pair<std::string, std::string>> seen_;  // (uri, xxh64)
  metrics::JsonlSink sink_;
  bool open_ = false;
  std::vector<nlohmann::json> unwritten_;  // in order, oldest first

  void WriteLocked();
};

}  // namespace mt::coord
