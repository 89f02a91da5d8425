// The streaming loader over a file:// dataset whose sample i starts with token i: batches follow
// the window plan, dp slices concatenate to the same global order, a resume at another dp reads
// each sample of the epoch exactly once, the cache stays within its bound, and bad shards are
// clear errors (before training where they can be: listing, sizes, cache size).
#include <fstream>
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/data/dataset.h"
#include "runtime/data/loader.h"
#include "runtime/data/window_plan.h"
#include "runtime/data/writer.h"
#include "tests/support/temp_dir.h"

namespace mt::data {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSamples = 500, kPerShard = 50, kLen = 4;

// 500 train samples in 10 shards of 50; sample i = {i, i + 1, i + 2, 7}; 20 eval samples.
DatasetIndex WriteNumbered(const std::string& dir) {
  DatasetIndex h;
  h.vocab_size = 60000;
  h.sample_len = kLen;
  DatasetWriter w(dir, h, kPerShard);
  for (int32_t i = 0; i < kSamples; ++i) EXPECT_TRUE(w.Add("train", {i, i + 1, i + 2, 7}).ok());
  for (int32_t i = 0; i < 20; ++i) EXPECT_TRUE(w.Add("eval", {i, 0, 0, 0}).ok());
  EXPECT_TRUE(w.Finish().ok());
  return w.index();
}

struct Fixture {
  mt::testing::TempDir dir;
  DatasetIndex index = WriteNumbered(dir.path());
  std::shared_ptr<storage::BlobStore> store = *storage::OpenBlobStore(dir.path());

  std::unique_ptr<Loader> Open(LoaderOptions o) {
    auto loader = Loader::Open(store, index, "train", o);
    EXPECT_TRUE(loader.ok()) << loader.status();
    return loader.ok() ? std::move(*loader) : nullptr;
  }
};

LoaderOptions Options(int64_t global_batch, int dp, int rank, int64_t start = 0) {
  LoaderOptions o;
  o.global_batch = global_batch;
  o.dp = dp;
  o.dp_rank = rank;
  o.start_position = start;
  o.seed = 11;
  o.window_shards = 3;
  o.prefetch_shards = 2;
  return o;
}

// The ids `steps` steps of every rank read, in global order (rank slices concatenated).
std::vector<int64_t> GlobalOrder(Fixture& f, int dp, int64_t start, int64_t steps) {
  std::vector<std::unique_ptr<Loader>> ranks;
  for (int r = 0; r < dp; ++r) ranks.push_back(f.Open(Options(20, dp, r, start)));
  std::vector<int64_t> ids;
  for (int64_t s = 0; s < steps; ++s) {
    for (auto& loader : ranks) {
      auto batch = loader->Next();
      EXPECT_TRUE(batch.ok()) << batch.status();
      EXPECT_EQ(batch->position, start + s * 20);
      for (size_t i = 0; i < batch->ids.size(); ++i) {
        EXPECT_EQ(batch->tokens[i * kLen], batch->ids[i]) << "tokens are not sample " << i;
        EXPECT_EQ(batch->tokens[i * kLen + 3], 7);
      }
      ids.insert(ids.end(), batch->ids.begin(), batch->ids.end());
    }
  }
  return ids;
}

TEST(Loader, BatchesFollowTheWindowPlanOnAnyDp) {
  Fixture f;
  WindowPlan plan(std::vector<int64_t>(10, kPerShard), 3, 11);
  std::vector<int64_t> expected;
  for (int64_t p = 0; p < 40 * 20; ++p) expected.push_back(plan.IndexAt(p));  // 1.6 epochs
  EXPECT_EQ(GlobalOrder(f, 1, 0, 40), expected);
  EXPECT_EQ(GlobalOrder(f, 2, 0, 40), expected);
  EXPECT_EQ(GlobalOrder(f, 4, 0, 40), expected);
}

TEST(Loader, ResumeAtAnotherDpReadsTheEpochExactlyOnce) {
  Fixture f;
  // 25 steps of 20 = one epoch: 7 steps at dp 4, then the cursor 140 resumed at dp 2.
  std::vector<int64_t> ids = GlobalOrder(f, 4, 0, 7);
  std::vector<int64_t> rest = GlobalOrder(f, 2, 7 * 20, 18);
  ids.insert(ids.end(), rest.begin(), rest.end());
  ASSERT_EQ(ids.size(), static_cast<size_t>(kSamples));
  std::set<int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kSamples)) << "a sample was read twice";
  EXPECT_EQ(*unique.begin(), 0);
  EXPECT_EQ(*unique.rbegin(), kSamples - 1);
}

TEST(Loader, HeldOutTailIsNeverTrainedAndReadSamplesReadsIt) {
  Fixture f;
  LoaderOptions o = Options(20, 1, 0);
  o.num_samples = 420;  // the last 80 held out
  auto loader = f.Open(o);
  for (int s = 0; s < 42; ++s) {  // two epochs of 420
    auto batch = loader->Next();
    ASSERT_TRUE(batch.ok());
    for (int64_t id : batch->ids) ASSERT_LT(id, 420);
  }
  auto eval = ReadSamples(*f.store, f.index, "train", {499, 420, 3});
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ((*eval)[0], 499);
  EXPECT_EQ((*eval)[kLen], 420);
  EXPECT_EQ((*eval)[2 * kLen], 3);
  auto other = ReadSamples(*f.store, f.index, "eval", {19, 0});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)[0], 19);
  EXPECT_EQ(ReadSamples(*f.store, f.index, "eval", {20}).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(Loader, CacheStaysWithinItsBoundAndPrefetches) {
  Fixture f;
  LoaderOptions o = Options(20, 1, 0);
  o.cache_bytes = (3 + 2) * kPerShard * kLen * 2;  // exactly a window plus the prefetch
  std::vector<std::string> audited;
  std::mutex mu;
  o.on_fetched = [&](const ShardInfo& s) {
    std::lock_guard<std::mutex> lock(mu);
    audited.push_back(s.name);
  };
  auto loader = f.Open(o);
  for (int s = 0; s < 75; ++s) ASSERT_TRUE(loader->Next().ok());  // three epochs
  const LoaderStats st = loader->stats();
  EXPECT_LE(st.cache.peak_bytes, o.cache_bytes);
  EXPECT_GT(st.cache.evictions, 0);
  EXPECT_GT(st.cache.hits, st.cache.misses) << "prefetch did not run ahead";
  EXPECT_EQ(st.batches, 75);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(static_cast<int64_t>(audited.size()), st.cache.fetches);
  EXPECT_EQ(std::set<std::string>(audited.begin(), audited.end()).size(), 10u);
}

// The loader checks token ids as it fetches: an id outside the index's vocabulary fails the
// batch that would read it, naming shard and sample, instead of training silently.
TEST(Loader, TokenIdsOutsideTheVocabularyFailNamingTheShard) {
  Fixture f;
  f.index.vocab_size = 3;  // the numbered samples hold larger ids
  auto loader = f.Open(Options(20, 1, 0));
  ASSERT_NE(loader, nullptr);
  auto batch = loader->Next();
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kDataLoss) << batch.status();
  EXPECT_THAT(std::string(batch.status().message()),
              HasSubstr("outside the vocabulary [0, 3) of the index"));
}

TEST(Loader, BadShardsAreClearErrors) {
  Fixture f;
  LoaderOptions small = Options(20, 1, 0);
  small.cache_bytes = 1000;
  auto too_small = Loader::Open(f.store, f.index, "train", small);
  EXPECT_EQ(too_small.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(too_small.status().message()), HasSubstr("shuffle window of 3 shards"));
  EXPECT_EQ(Loader::Open(f.store, f.index, "nope", Options(20, 1, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A shard flipped in place (same size): the listing passes, the read fails naming it, and
  // the trainer's Next() keeps returning that error.
  const std::string flipped = f.index.shards[4].name;
  {
    std::fstream file(f.dir.path() + "/" + flipped,
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(10);
    file.put('\x55');
  }
  auto loader = f.Open(Options(20, 1, 0));
  absl::Status error;
  for (int s = 0; s < 25 && error.ok(); ++s) error = loader->Next().status();
  EXPECT_EQ(error.code(), absl::StatusCode::kDataLoss) << error;
  EXPECT_THAT(std::string(error.message()), HasSubstr(flipped + ": checksum mismatch"));
  EXPECT_EQ(loader->Next().status(), error);

  // Truncated and missing shards fail at Open, before any training.
  { std::ofstream(f.dir.path() + "/" + f.index.shards[2].name, std::ios::trunc) << "x"; }
  auto truncated = Loader::Open(f.store, f.index, "train", Options(20, 1, 0));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(truncated.status().message()),
              HasSubstr(f.index.shards[2].name + ": 1 bytes, index says 400"));
  ASSERT_TRUE(f.store->Delete(f.index.shards[2].name).ok());
  auto missing = Loader::Open(f.store, f.index, "train", Options(20, 1, 0));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(f.index.shards[2].name));
}

}  // namespace
}  // namespace mt::data
