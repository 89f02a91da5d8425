// WindowPlan: each epoch reads every sample exactly once (any shard sizes, any window), the
// order is deterministic and differs between epochs, a window of positions touches only its
// window's shards, and a dp slice computed from any cursor agrees with one reader.
#include "runtime/data/window_plan.h"

#include <gtest/gtest.h>

#include <set>

#include "runtime/data/plan.h"

namespace mt::data {
namespace {

TEST(WindowPlan, EveryEpochIsAPermutation) {
  for (const std::vector<int64_t>& shards :
       {std::vector<int64_t>{5}, {3, 7, 1, 9}, {10, 10, 10, 10, 10, 10, 10}, {1, 1, 1}}) {
    for (int window : {1, 2, 3, 8}) {
      WindowPlan plan(shards, window, 42);
      const int64_t n = plan.num_samples();
      for (int64_t epoch = 0; epoch < 3; ++epoch) {
        std::set<int64_t> seen;
        for (int64_t p = epoch * n; p < (epoch + 1) * n; ++p) {
          const int64_t id = plan.IndexAt(p);
          ASSERT_GE(id, 0);
          ASSERT_LT(id, n);
          seen.insert(id);
        }
        EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "window " << window;
      }
    }
  }
}

TEST(WindowPlan, DeterministicAndEpochsDiffer) {
  const std::vector<int64_t> shards = {50, 50, 50, 50};
  WindowPlan a(shards, 2, 7), b(shards, 2, 7), other_seed(shards, 2, 8);
  std::vector<int64_t> e0, e1, seeded;
  for (int64_t p = 0; p < 200; ++p) {
    e0.push_back(a.IndexAt(p));
    seeded.push_back(other_seed.IndexAt(p));
  }
  for (int64_t p = 200; p < 400; ++p) e1.push_back(a.IndexAt(p));
  for (int64_t p = 0; p < 200; ++p) ASSERT_EQ(b.IndexAt(p), e0[p]);
  EXPECT_NE(e0, e1);
  EXPECT_NE(e0, seeded);
  // Random access (a resume from any cursor) equals sequential reading.
  for (int64_t p : {399, 0, 250, 17, 200}) {
    EXPECT_EQ(b.IndexAt(p), p < 200 ? e0[p] : e1[p - 200]);
  }
}

// The distinct shards positions [begin, end) read.
size_t ShardsRead(WindowPlan& plan, int64_t begin, int64_t end) {
  std::set<int> shards;
  for (int64_t p = begin; p < end; ++p) shards.insert(plan.ShardOf(plan.IndexAt(p)));
  return shards.size();
}

TEST(WindowPlan, AWindowOfPositionsReadsOnlyItsShards) {
  // 8 shards of 25, windows of 2 shards: positions [50k, 50k+50) touch exactly 2 shards,
  // and the samples within a window are mixed across both.
  WindowPlan plan(std::vector<int64_t>(8, 25), 2, 3);
  for (int w = 0; w < 4; ++w) {
    EXPECT_EQ(ShardsRead(plan, 50 * w, 50 * (w + 1)), 2u) << "window " << w;
    std::set<int> first_half;
    for (int64_t p = 50 * w; p < 50 * w + 10; ++p) first_half.insert(plan.ShardOf(plan.IndexAt(p)));
    EXPECT_EQ(first_half.size(), 2u) << "the first 10 positions should mix both shards";
  }
  EXPECT_EQ(ShardsRead(plan, 0, 200), 8u);
}

TEST(WindowPlan, DataParallelSlicesCoverTheGlobalBatch) {
  // dp ranks reading RankSlice of each step from their own plan see exactly what one reader
  // sees, for any dp and any starting cursor (the resumed-with-another-dp case).
  const std::vector<int64_t> shards = {40, 24, 40, 16};
  WindowPlan single(shards, 2, 11);
  for (int dp : {1, 2, 4, 8}) {
    std::vector<WindowPlan> ranks(dp, WindowPlan(shards, 2, 11));
    for (int64_t cursor = 48; cursor < 48 + 3 * 64; cursor += 64) {
      std::multiset<int64_t> together, one;
      for (int r = 0; r < dp; ++r) {
        const Slice s = RankSlice(cursor, 64, dp, r);
        for (int64_t p = s.begin; p < s.end; ++p) together.insert(ranks[r].IndexAt(p));
      }
      for (int64_t p = cursor; p < cursor + 64; ++p) one.insert(single.IndexAt(p));
      EXPECT_EQ(together, one) << "dp " << dp << " cursor " << cursor;
    }
  }
}

}  // namespace
}  // namespace mt::data
