// The streaming loader: a data-parallel rank's batches, read from blob storage while the
// trainer computes (DESIGN §3 "Data").
//
// Order: positions count samples consumed by the whole job (the checkpointed cursor). Step k
// of a loader started at `start_position` covers the global batch [start + k*G, start +
// (k+1)*G); rank r of dp takes its contiguous slice (RankSlice), and each position maps to a
// sample id through the WindowPlan (shards permuted per epoch, samples shuffled within windows
// of shards). So the same seed gives the same global order on any dp, and a resume at any dp
// from the same cursor reads every sample of the epoch exactly once.
//
// Reading: a producer thread assembles batches up to `depth` steps ahead; shards come from a
// bounded ShardCache that fetch threads fill ahead of use (the current window plus `prefetch`
// more shards), every shard verified against the index. The trainer's Next() waits only when
// storage is slower than training; the time it waited is counted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data/index.h"
#include "runtime/data/shard_cache.h"
#include "runtime/data/window_plan.h"
#include "runtime/storage/blob_store.h"

namespace mt::data {

struct LoaderOptions {
  int64_t global_batch = 1;  // divisible by dp
  int dp = 1, dp_rank = 0;
  int64_t start_position = 0;  // the job's sample cursor at the first Next()
  int64_t num_samples = -1;    // the split's first num_samples train (< 0: all of them)
  uint64_t seed = 1;
  int window_shards = 8;
  int prefetch_shards = 4;
  int64_t cache_bytes = int64_t{1} << 30;
  int fetch_threads = 0;  // 0: one per prefetched shard, 1 to 4
  int64_t part_bytes = int64_t{8} << 20;
  int depth = 2;                                     // batches assembled ahead
  std::function<void(const ShardInfo&)> on_fetched;  // the audit hook, once per fetch
};

// Raw samples: ids within the split, and their tokens (ids.size() * sample_len, as stored).
struct Samples {
  int64_t position = 0;  // the global position of the step's first sample (the cursor)
  std::vector<int64_t> ids;
  std::vector<uint16_t> tokens;
};

struct LoaderStats {
  ShardCacheStats cache;
  int64_t batches = 0;
  double wait_s = 0;     // time Next() blocked
  double produce_s = 0;  // producer time spent assembling (incl. waiting for shards)
};

class Loader {
 public:
  // Checks before any training: the split exists and has num_samples, every shard of the
  // split is listed with the size the index says (NotFound / DataLoss naming it), and the
  // cache can hold a window plus the prefetch (FailedPrecondition with the sizes).
  static absl::StatusOr<std::unique_ptr<Loader>> Open(std::shared_ptr<storage::BlobStore> store,
                                                      const DatasetIndex& index,
                                                      const std::string& split,
                                                      LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next step's slice. After an error every later call returns it again.
  absl::StatusOr<Samples> Next();
  LoaderStats stats() const;
  int64_t sample_len() const { return sample_len_; }

 private:
  Loader(std::shared_ptr<storage::BlobStore> store, std::vector<ShardInfo> shards,
         std::vector<int64_t> plan_counts, TokenCheck tokens, LoaderOptions options);
  void Produce();
  // Copies the samples out.ids names into out.tokens (producer thread: it uses plan_).
  absl::Status Fill(Samples& out);

  std::shared_ptr<storage::BlobStore> store_;
  const LoaderOptions options_;
  const int64_t sample_len_;
  ShardCache cache_;
  WindowPlan plan_;  // producer thread only

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<absl::StatusOr<Samples>> ready_;
  bool stopping_ = false;
  LoaderStats stats_;
  std::thread producer_;
};

}  // namespace mt::data
