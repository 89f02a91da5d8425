// A bounded cache of verified shards, filled by background fetch threads: what the streaming
// loader reads samples from (DESIGN §3 "Data").
//
// Contract: Get(s) returns shard s's bytes, checked against the index (size and XXH64), or the
// error that fetching it ended with (after the BlobStore's own retries), naming the blob.
// Prefetch(s) starts fetching s in the background and returns at once. The cache holds at most
// `capacity_bytes` of shards; when full, the least recently used one goes. A shard handed out
// by Get stays valid while the caller holds the pointer, even if the cache drops it.
// Thread-safe. Fetches read a shard as ranged GETs of `part_bytes` (a failed part retries alone).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data/index.h"
#include "runtime/storage/blob_store.h"

namespace mt::data {

struct ShardCacheOptions {
  int64_t capacity_bytes = int64_t{1} << 30;
  int fetch_threads = 2;
  int64_t part_bytes = int64_t{8} << 20;
  TokenCheck tokens;  // what every fetched shard is checked for (ReadShard)
  // Called once per completed fetch (from a fetch thread): the audit hook.
  std::function<void(const ShardInfo&)> on_fetched;
};

struct ShardCacheStats {
  int64_t fetches = 0, bytes_fetched = 0, evictions = 0;
  int64_t hits = 0;        // Get found the shard ready
  int64_t misses = 0;      // Get had to wait for (or do) the fetch
  int64_t peak_bytes = 0;  // most bytes the cache held at once
};

class ShardCache {
 public:
  // `store` must outlive the cache; `shards` are addressed by their position in the vector.
  ShardCache(storage::BlobStore& store, std::vector<ShardInfo> shards, ShardCacheOptions options);
  ~ShardCache();  // stops the fetch threads; fetches in flight finish first
  ShardCache(const ShardCache&) = delete;
  ShardCache& operator=(const ShardCache&) = delete;

  void Prefetch(int shard);
  absl::StatusOr<std::shared_ptr<const std::string>> Get(int shard);
  ShardCacheStats stats() const;

 private:
  enum class State { kQueued, kFetching, kReady, kFailed };
  struct Entry {
    State state = State::kQueued;
    std::shared_ptr<const std::string> bytes;
    absl::Status error;
    uint64_t last_use = 0;
  };

  void FetchLoop();
  // Fetches `shard` (whose entry is kFetching) without the lock, then publishes the result.
  void Fetch(int shard, std::unique_lock<std::mutex>& lock);
  void EvictLocked(int keep);

  storage::BlobStore& store_;
  const std::vector<ShardInfo> shards_;
  const ShardCacheOptions options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<int, Entry> entries_;
  std::deque<int> queue_;  // shards waiting for a fetch thread
  int64_t cached_bytes_ = 0;
  uint64_t clock_ = 0;
  bool stopping_ = false;
  ShardCacheStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace mt::data
