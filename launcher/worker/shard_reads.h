// The worker's side of the data audit (launcher/coordinator/data_audit.h): the shards this
// worker read and has not reported yet, filled by the loader's fetch threads and drained into
// heartbeats and Finish. Each shard is reported once per worker. Thread-safe.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "meshtrain/v1/coordinator.pb.h"
#include "runtime/data/index.h"

namespace mt::worker {

// The audit record of `shard` of the dataset at `dataset_uri`.
meshtrain::v1::ShardRead DescribeShardRead(const std::string& dataset_uri,
                                           const data::ShardInfo& shard);

class ShardReads {
 public:
  explicit ShardReads(std::string dataset_uri) : uri_(std::move(dataset_uri)) {}
  void Add(const data::ShardInfo& shard);

  // Moves the pending reads into request.shards_read; Restore puts them back when the
  // request could not be sent.
  template <typename Request>
  void TakeInto(Request& request) {
    std::lock_guard<std::mutex> lock(mu_);
    for (meshtrain::v1::ShardRead& r : pending_) *request.add_shards_read() = std::move(r);
    pending_.clear();
  }
  template <typename Request>
  void Restore(const Request& request) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(pending_.end(), request.shards_read().begin(), request.shards_read().end());
  }

 private:
  const std::string uri_;
  std::mutex mu_;
  std::set<std::string> reported_;  // shard names
  std::vector<meshtrain::v1::ShardRead> pending_;
};

}  // namespace mt::worker
