// The data plan's two pure pieces. Positions count samples consumed by the whole job (the
// checkpointed cursor); WindowPlan (window_plan.h) maps a position to a sample id using the
// seeded Permutation below. With dp ranks, a step's global batch [cursor, cursor + G) is cut
// into contiguous slices, so any dp resuming from the same cursor reads each sample exactly
// once.
#pragma once

#include <cstdint>
#include <vector>

namespace mt::data {

// The permutation of 0..n-1 for (seed, epoch): Fisher-Yates on splitmix64, identical on every
// platform and library.
std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch);

// The positions rank `dp_rank` of `dp` reads for the step starting at `cursor` with global
// batch `global_batch` (divisible by dp): [cursor + r*G/dp, cursor + (r+1)*G/dp).
struct Slice {
  int64_t begin = 0, end = 0;
};
Slice RankSlice(int64_t cursor, int64_t global_batch, int dp, int dp_rank);

}  // namespace mt::data
