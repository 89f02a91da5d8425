// The streaming order: which sample a global position reads when shards come from blob
// storage. A fully random permutation makes every batch touch random shards, so a streaming
// reader would need the whole dataset in its cache; this order keeps batches mixed while
// reading only a window of shards at a time (the shuffle-block scheme of streaming loaders).
//
// Epoch e = position / n (n = all samples). The shards are permuted by (seed, e) and cut into
// consecutive windows of `window_shards` shards; positions run through the windows in order,
// and inside a window through a permutation of all its samples seeded by (seed, e, window).
// Pure and deterministic: every rank, any dp, and a resume from any cursor agree; each epoch
// reads each sample exactly once. Not thread-safe (caches the current epoch and window).
#pragma once

#include <cstdint>
#include <vector>

namespace mt::data {

class WindowPlan {
 public:
  // shard_samples[s]: samples in shard s, in index order (sample ids are contiguous by
  // shard: shard s holds ids [sum of earlier shards, + shard_samples[s])).
  WindowPlan(std::vector<int64_t> shard_samples, int window_shards, uint64_t seed);

  // Global sample id for a position (>= 0).
  int64_t IndexAt(int64_t position);
  // The shard a sample id lives in, and that shard's first sample id.
  int ShardOf(int64_t sample) const;
  int64_t ShardStart(int shard) const { return shard_start_[shard]; }
  // What a prefetcher wants resident at `position`: the shards of its window, then the next
  // `extra` shards in reading order (into the next epoch when this one ends).
  std::vector<int> ShardsAhead(int64_t position, int extra);
  int64_t num_samples() const { return n_; }

 private:
  void LoadEpoch(int64_t epoch);
  void LoadWindow(int window);

  std::vector<int64_t> shard_samples_, shard_start_;  // by shard id
  int window_shards_;
  uint64_t seed_;
  int64_t n_ = 0;
  // Current epoch: shard order, and where each window starts (in positions within the epoch).
  int64_t epoch_ = -1;
  std::vector<int> order_;
  std::vector<int64_t> window_start_;  // size windows + 1
  std::vector<int> next_order_;        // the next epoch's shard order, once ShardsAhead needs it
  // Current window: its samples' ids in read order.
  int window_ = -1;
  std::vector<int64_t> window_ids_;
};

}  // namespace mt::data
