// Streaming loader (see loader.h).
#include "runtime/data/loader.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

#include "fmt/format.h"
#include "runtime/core/status.h"
#include "runtime/data/plan.h"

namespace mt::data {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Every shard listed with the size the index gives it; errors name the blob.
absl::Status CheckListed(storage::BlobStore& store, const std::vector<ShardInfo>& shards) {
  MT_ASSIGN_OR_RETURN(std::vector<storage::BlobInfo> blobs, store.List(""));
  std::map<std::string, int64_t> sizes;
  for (const storage::BlobInfo& b : blobs) sizes[b.path] = b.size;
  for (const ShardInfo& s : shards) {
    auto it = sizes.find(s.name);
    if (it == sizes.end()) {
      return absl::NotFoundError(
          fmt::format("{}/{}: shard listed in the index is missing", store.uri(), s.name));
    }
    if (it->second != s.bytes) {
      return absl::DataLossError(
          fmt::format("{}/{}: {} bytes, index says {}", store.uri(), s.name, it->second, s.bytes));
    }
  }
  return absl::OkStatus();
}

// Sample counts the plan walks: the split's shards cut to its first `n` samples.
std::vector<int64_t> PlanCounts(const std::vector<ShardInfo>& shards, int64_t n) {
  std::vector<int64_t> counts;
  for (const ShardInfo& s : shards) {
    if (n <= 0) break;
    counts.push_back(std::min(s.samples, n));
    n -= counts.back();
  }
  return counts;
}

ShardCacheOptions CacheOptions(const LoaderOptions& o, TokenCheck tokens) {
  ShardCacheOptions c;
  c.tokens = tokens;
  c.capacity_bytes = o.cache_bytes;
  c.fetch_threads = o.fetch_threads > 0 ? o.fetch_threads : std::clamp(o.prefetch_shards, 1, 4);
  c.part_bytes = o.part_bytes;
  c.on_fetched = o.on_fetched;
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Loader>> Loader::Open(std::shared_ptr<storage::BlobStore> store,
                                                     const DatasetIndex& index,
                                                     const std::string& split,
                                                     LoaderOptions options) {
  std::vector<ShardInfo> shards;
  int64_t total = 0, largest = 0;
  for (const ShardInfo& s : index.shards) {
    if (s.split != split) continue;
    shards.push_back(s);
    total += s.samples;
    largest = std::max(largest, s.bytes);
  }
  if (options.num_samples < 0) options.num_samples = total;
  if (options.num_samples == 0 || options.num_samples > total) {
    return absl::InvalidArgumentError(fmt::format("{}: split '{}' has {} samples; {} wanted",
                                                  store->uri(), split, total, options.num_samples));
  }
  MT_CHECK(options.dp >= 1 && options.global_batch % options.dp == 0);
  const int64_t resident = int64_t{options.window_shards + options.prefetch_shards} * largest;
  if (resident > options.cache_bytes) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: a cache of {:.1f} MiB cannot hold a shuffle window of {} shards plus {} prefetched "
        "(shards up to {:.1f} MiB, {:.1f} MiB in all)",
        store->uri(), options.cache_bytes / 1048576.0, options.window_shards,
        options.prefetch_shards, largest / 1048576.0, resident / 1048576.0));
  }
  MT_RETURN_IF_ERROR(CheckListed(*store, shards));
  std::vector<int64_t> counts = PlanCounts(shards, options.num_samples);
  return std::unique_ptr<Loader>(new Loader(std::move(store), std::move(shards), std::move(counts),
                                            TokensOf(index), std::move(options)));
}

Loader::Loader(std::shared_ptr<storage::BlobStore> store, std::vector<ShardInfo> shards,
               std::vector<int64_t> plan_counts, TokenCheck tokens, LoaderOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      sample_len_(tokens.sample_len),
      cache_(*store_, shards, CacheOptions(options_, tokens)),
      plan_(std::move(plan_counts), options_.window_shards, options_.seed) {
  producer_ = std::thread([this] { Produce(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  producer_.join();
}

absl::Status Loader::Fill(Samples& out) {
  const std::vector<int64_t>& ids = out.ids;
  out.tokens.resize(ids.size() * sample_len_);
  std::map<int, std::shared_ptr<const std::string>> held;  // shards this batch reads
  for (size_t i = 0; i < ids.size(); ++i) {
    const int shard = plan_.ShardOf(ids[i]);
    auto& bytes = held[shard];
    if (!bytes) {
      MT_ASSIGN_OR_RETURN(bytes, cache_.Get(shard));
    }
    const int64_t offset = (ids[i] - plan_.ShardStart(shard)) * sample_len_ * 2;
    std::memcpy(out.tokens.data() + i * sample_len_, bytes->data() + offset, sample_len_ * 2);
  }
  return absl::OkStatus();
}

void Loader::Produce() {
  const int64_t per_rank = options_.global_batch / options_.dp;
  for (int64_t step = 0;; ++step) {
    const int64_t cursor = options_.start_position + step * options_.global_batch;
    const Slice slice = RankSlice(cursor, options_.global_batch, options_.dp, options_.dp_rank);
    const auto start = std::chrono::steady_clock::now();
    for (int s : plan_.ShardsAhead(slice.begin, options_.prefetch_shards)) cache_.Prefetch(s);
    Samples batch;
    batch.position = cursor;
    batch.ids.resize(per_rank);
    for (int64_t i = 0; i < per_rank; ++i) batch.ids[i] = plan_.IndexAt(slice.begin + i);
    absl::Status filled = Fill(batch);
    std::unique_lock<std::mutex> lock(mu_);
    stats_.produce_s += Since(start);
    if (filled.ok()) {
      ready_.push_back(std::move(batch));
    } else {
      ready_.push_back(filled);
    }
    changed_.notify_all();
    if (!filled.ok()) return;
    changed_.wait(lock, [&] {
      return stopping_ || static_cast<int>(ready_.size()) < std::max(1, options_.depth);
    });
    if (stopping_) return;
  }
}

absl::StatusOr<Samples> Loader::Next() {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this] { return !ready_.empty(); });
  stats_.wait_s += Since(start);
  if (!ready_.front().ok()) return ready_.front().status();  // stays: later calls see it too
  absl::StatusOr<Samples> next = std::move(ready_.front());
  ready_.pop_front();
  ++stats_.batches;
  changed_.notify_all();
  return next;
}

LoaderStats Loader::stats() const {
  LoaderStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
  }
  s.cache = cache_.stats();
  return s;
}

}  // namespace mt::data
