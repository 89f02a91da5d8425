// The data plan: which sample a global position reads. Positions count samples consumed by the
// whole job (the checkpointed cursor); epoch e = position / n reads a permutation of 0..n-1
// seeded by (seed, e). With dp ranks, a step's global batch [cursor, cursor + G) is cut into
// contiguous slices, so any dp resuming from the same cursor reads each sample exactly once.
#pragma once

#include <cstdint>
#include <vector>

namespace mt::data {

// The permutation of 0..n-1 for (seed, epoch): Fisher-Yates on splitmix64, identical on every
// platform and library.
std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch);

class DataPlan {
 public:
  DataPlan(int64_t num_samples, uint64_t seed);
  // Sample index for a global position (>= 0). Caches the current epoch's permutation; not
  // thread-safe.
  int64_t IndexAt(int64_t position);
  int64_t num_samples() const { return n_; }

 private:
  int64_t n_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> perm_;
};

// The positions rank `dp_rank` of `dp` reads for the step starting at `cursor` with global
// batch `global_batch` (divisible by dp): [cursor + r*G/dp, cursor + (r+1)*G/dp).
struct Slice {
  int64_t begin = 0, end = 0;
};
Slice RankSlice(int64_t cursor, int64_t global_batch, int dp, int dp_rank);

}  // namespace mt::data
