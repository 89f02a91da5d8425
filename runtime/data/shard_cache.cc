// Bounded shard cache with background fetches (see shard_cache.h).
#include "runtime/data/shard_cache.h"

#include <algorithm>

#include "runtime/core/status.h"
#include "runtime/data/dataset.h"

namespace mt::data {

ShardCache::ShardCache(storage::BlobStore& store, std::vector<ShardInfo> shards,
                       ShardCacheOptions options)
    : store_(store), shards_(std::move(shards)), options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.fetch_threads); ++i) {
    threads_.emplace_back([this] { FetchLoop(); });
  }
}

ShardCache::~ShardCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ShardCache::Prefetch(int shard) {
  MT_CHECK(shard >= 0 && shard < static_cast<int>(shards_.size()));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = entries_.try_emplace(shard);
  it->second.last_use = ++clock_;  // about to be used: the last thing to evict
  if (!inserted) return;
  queue_.push_back(shard);
  changed_.notify_all();
}

absl::StatusOr<std::shared_ptr<const std::string>> ShardCache::Get(int shard) {
  MT_CHECK(shard >= 0 && shard < static_cast<int>(shards_.size()));
  std::unique_lock<std::mutex> lock(mu_);
  bool waited = false;
  while (true) {
    auto [it, inserted] = entries_.try_emplace(shard);
    Entry& e = it->second;
    if (e.state == State::kReady) {
      e.last_use = ++clock_;
      ++(waited ? stats_.misses : stats_.hits);
      return e.bytes;
    }
    if (e.state == State::kFailed) {
      absl::Status error = e.error;
      entries_.erase(it);  // a later Get tries again
      ++stats_.misses;
      return error;
    }
    waited = true;
    if (e.state == State::kQueued) {
      // Not started yet: fetch it here rather than wait behind other prefetches.
      if (!inserted) queue_.erase(std::find(queue_.begin(), queue_.end(), shard));
      e.state = State::kFetching;
      Fetch(shard, lock);
      continue;
    }
    changed_.wait(lock);  // another thread is fetching it
  }
}

void ShardCache::FetchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const int shard = queue_.front();
    queue_.pop_front();
    entries_.at(shard).state = State::kFetching;
    Fetch(shard, lock);
  }
}

void ShardCache::Fetch(int shard, std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  auto bytes = ReadShard(store_, shards_[shard], options_.part_bytes, options_.tokens);
  if (bytes.ok() && options_.on_fetched) options_.on_fetched(shards_[shard]);
  lock.lock();
  Entry& e = entries_.at(shard);  // only kReady entries are ever evicted
  if (bytes.ok()) {
    e.state = State::kReady;
    e.bytes = std::make_shared<const std::string>(std::move(*bytes));
    cached_bytes_ += static_cast<int64_t>(e.bytes->size());
    ++stats_.fetches;
    stats_.bytes_fetched += static_cast<int64_t>(e.bytes->size());
    EvictLocked(shard);
    stats_.peak_bytes = std::max(stats_.peak_bytes, cached_bytes_);
  } else {
    e.state = State::kFailed;
    e.error = bytes.status();
  }
  changed_.notify_all();
}

void ShardCache::EvictLocked(int keep) {
  while (cached_bytes_ > options_.capacity_bytes) {
    auto victim = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == keep || it->second.state != State::kReady) continue;
      if (victim == entries_.end() || it->second.last_use < victim->second.last_use) victim = it;
    }
    if (victim == entries_.end()) return;  // only the newest shard left: it may exceed alone
    cached_bytes_ -= static_cast<int64_t>(victim->second.bytes->size());
    ++stats_.evictions;
    entries_.erase(victim);
  }
}

ShardCacheStats ShardCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace mt::data
