// Windowed streaming order (see window_plan.h).
#include "runtime/data/window_plan.h"

#include <algorithm>

#include "runtime/core/status.h"
#include "runtime/data/plan.h"

namespace mt::data {

WindowPlan::WindowPlan(std::vector<int64_t> shard_samples, int window_shards, uint64_t seed)
    : shard_samples_(std::move(shard_samples)), window_shards_(window_shards), seed_(seed) {
  MT_CHECK(!shard_samples_.empty() && window_shards_ >= 1);
  shard_start_.resize(shard_samples_.size());
  for (size_t s = 0; s < shard_samples_.size(); ++s) {
    MT_CHECK(shard_samples_[s] > 0);
    shard_start_[s] = n_;
    n_ += shard_samples_[s];
  }
}

void WindowPlan::LoadEpoch(int64_t epoch) {
  const auto perm = Permutation(static_cast<int64_t>(shard_samples_.size()), seed_, epoch);
  order_.assign(perm.begin(), perm.end());
  window_start_.assign(1, 0);
  for (size_t i = 0; i < order_.size(); i += window_shards_) {
    int64_t size = 0;
    for (size_t j = i; j < std::min(order_.size(), i + window_shards_); ++j) {
      size += shard_samples_[order_[j]];
    }
    window_start_.push_back(window_start_.back() + size);
  }
  epoch_ = epoch;
  window_ = -1;
  next_order_.clear();
}

void WindowPlan::LoadWindow(int window) {
  std::vector<int64_t> ids;
  const size_t first = static_cast<size_t>(window) * window_shards_;
  for (size_t j = first; j < std::min(order_.size(), first + window_shards_); ++j) {
    const int s = order_[j];
    for (int64_t k = 0; k < shard_samples_[s]; ++k) ids.push_back(shard_start_[s] + k);
  }
  // A distinct stream per (epoch, window): the window index is folded into the epoch argument.
  const auto perm =
      Permutation(static_cast<int64_t>(ids.size()), seed_ ^ 0x5bd1e995u, epoch_ * 1000003 + window);
  window_ids_.resize(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) window_ids_[i] = ids[perm[i]];
  window_ = window;
}

int64_t WindowPlan::IndexAt(int64_t position) {
  MT_CHECK(position >= 0);
  const int64_t epoch = position / n_, within = position % n_;
  if (epoch != epoch_) LoadEpoch(epoch);
  const int window =
      static_cast<int>(std::upper_bound(window_start_.begin(), window_start_.end(), within) -
                       window_start_.begin() - 1);
  if (window != window_) LoadWindow(window);
  return window_ids_[within - window_start_[window]];
}

int WindowPlan::ShardOf(int64_t sample) const {
  return static_cast<int>(std::upper_bound(shard_start_.begin(), shard_start_.end(), sample) -
                          shard_start_.begin() - 1);
}

std::vector<int> WindowPlan::ShardsAhead(int64_t position, int extra) {
  IndexAt(position);  // loads the epoch and window of `position`
  const size_t first = static_cast<size_t>(window_) * window_shards_;
  const size_t end = std::min(order_.size(), first + window_shards_);
  std::vector<int> shards(order_.begin() + first, order_.begin() + end);
  const int64_t count = static_cast<int64_t>(end - first) + extra;
  for (size_t i = end; static_cast<int64_t>(shards.size()) < count; ++i) {
    if (i < order_.size()) {
      shards.push_back(order_[i]);
      continue;
    }
    if (next_order_.empty()) {  // kept until the epoch changes: asked every step near its end
      const auto perm = Permutation(static_cast<int64_t>(order_.size()), seed_, epoch_ + 1);
      next_order_.assign(perm.begin(), perm.end());
    }
    if (i - order_.size() >= next_order_.size()) break;
    const int s = next_order_[i - order_.size()];
    if (std::find(shards.begin(), shards.end(), s) == shards.end()) shards.push_back(s);
  }
  return shards;
}

}  // namespace mt::data
