// Data plan: permutations and the exactly-once property of dp slices.
#include "runtime/data/plan.h"

#include <algorithm>
#include <numeric>

#include "gtest/gtest.h"

namespace mt::data {
namespace {

TEST(Permutation, IsADeterministicPermutationPerSeedAndEpoch) {
  auto p = Permutation(1000, 7, 0);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(p, Permutation(1000, 7, 0));
  EXPECT_NE(p, Permutation(1000, 7, 1));
  EXPECT_NE(p, Permutation(1000, 8, 0));
  EXPECT_EQ(Permutation(1, 3, 5), std::vector<int64_t>{0});
  EXPECT_TRUE(Permutation(0, 3, 5).empty());
}

TEST(RankSlice, DpSlicesReadEachPositionExactlyOnceForAnyDp) {
  const int64_t global_batch = 12;
  for (int dp : {1, 2, 3, 4, 6}) {
    std::vector<int64_t> positions;
    for (int64_t step = 0; step < 5; ++step) {
      for (int r = 0; r < dp; ++r) {
        Slice s = RankSlice(step * global_batch, global_batch, dp, r);
        for (int64_t p = s.begin; p < s.end; ++p) positions.push_back(p);
      }
    }
    std::vector<int64_t> expected(5 * global_batch);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(positions, expected) << "dp=" << dp;
  }
}

}  // namespace
}  // namespace mt::data
