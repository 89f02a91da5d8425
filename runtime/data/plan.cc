// Data plan (see plan.h).
#include "runtime/data/plan.h"

#include <numeric>

namespace mt::data {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  uint64_t state = seed * 0x2545f4914f6cdd1dull + static_cast<uint64_t>(epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    // Multiply-shift maps 64 random bits onto [0, i] without modulo bias worth caring about.
    const int64_t j = static_cast<int64_t>(
        (static_cast<unsigned __int128>(SplitMix64(state)) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(p[i], p[j]);
  }
  return p;
}

Slice RankSlice(int64_t cursor, int64_t global_batch, int dp, int dp_rank) {
  const int64_t per = global_batch / dp;
  return Slice{cursor + dp_rank * per, cursor + (dp_rank + 1) * per};
}

}  // namespace mt::data
