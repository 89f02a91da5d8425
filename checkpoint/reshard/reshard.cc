// Checkpoint slice and overlap math (see reshard.h).
#include "checkpoint/reshard/reshard.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "fmt/format.h"

namespace mt::ckpt {
namespace {

// Row-major strides of `shape`.
std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> stride(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) stride[d - 1] = stride[d] * shape[d];
  return stride;
}

// Element index, in a buffer holding `box`, of global coordinates `at`.
int64_t IndexIn(const Box& box, const std::vector<int64_t>& stride,
                const std::vector<int64_t>& at) {
  int64_t i = 0;
  for (size_t d = 0; d < at.size(); ++d) i += (at[d] - box.offset[d]) * stride[d];
  return i;
}

}  // namespace

int64_t Volume(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

bool BoxesMeet(const Box& a, const Box& b) {
  if (Volume(a.shape) == 0 || Volume(b.shape) == 0) return false;
  for (size_t d = 0; d < a.offset.size(); ++d) {
    if (a.offset[d] >= b.offset[d] + b.shape[d] || b.offset[d] >= a.offset[d] + a.shape[d]) {
      return false;
    }
  }
  return true;
}

std::vector<Run> OverlapRuns(const Box& src, const Box& dst, int64_t dst_base) {
  if (!BoxesMeet(src, dst)) return {};
  const size_t rank = src.shape.size();
  if (rank == 0) return {{0, dst_base, 1}};
  std::vector<int64_t> lo(rank), hi(rank);
  for (size_t d = 0; d < rank; ++d) {
    lo[d] = std::max(src.offset[d], dst.offset[d]);
    hi[d] = std::min(src.offset[d] + src.shape[d], dst.offset[d] + dst.shape[d]);
  }
  const std::vector<int64_t> src_stride = Strides(src.shape), dst_stride = Strides(dst.shape);
  const int64_t row = hi[rank - 1] - lo[rank - 1];
  std::vector<Run> runs;
  // Walks the overlap's leading coordinates like an odometer; the last dimension is one run.
  std::vector<int64_t> at = lo;
  while (true) {
    runs.push_back({IndexIn(src, src_stride, at), dst_base + IndexIn(dst, dst_stride, at), row});
    size_t d = rank - 1;
    while (d-- > 0) {
      if (++at[d] < hi[d]) break;
      at[d] = lo[d];
    }
    if (d == static_cast<size_t>(-1)) return runs;
  }
}

void ApplyRuns(const std::vector<Run>& runs, const float* src, float* dst) {
  for (const Run& r : runs) std::copy_n(src + r.from, r.n, dst + r.to);
}

SliceCopy PlanSliceCopy(const Box& saved, const std::vector<Box>& pieces) {
  SliceCopy plan;
  int64_t base = 0;
  for (const Box& p : pieces) {
    if (p == saved) {
      plan.exact = base;
      plan.runs = {{0, base, Volume(p.shape)}};
      plan.elements = Volume(p.shape);
      return plan;
    }
    for (const Run& r : OverlapRuns(saved, p, base)) {
      plan.runs.push_back(r);
      plan.elements += r.n;
    }
    base += Volume(p.shape);
  }
  return plan;
}

Coverage::Coverage(std::vector<int64_t> global, std::vector<Box> pieces)
    : global_(std::move(global)), pieces_(std::move(pieces)) {
  for (const Box& p : pieces_) held_ += Volume(p.shape);
}

bool Coverage::Needs(const Box& saved) const {
  return std::any_of(pieces_.begin(), pieces_.end(),
                     [&](const Box& p) { return BoxesMeet(saved, p); });
}

absl::StatusOr<SliceCopy> Coverage::Take(const Box& saved) {
  for (const Box& t : taken_) {
    if (BoxesMeet(t, saved)) {
      return absl::InvalidArgumentError(
          fmt::format("saved slice {} at {} overlaps another saved slice", ShapeText(saved.shape),
                      ShapeText(saved.offset)));
    }
  }
  taken_.push_back(saved);
  SliceCopy plan = PlanSliceCopy(saved, pieces_);
  covered_ += plan.elements;
  return plan;
}

std::vector<int> AssignToRanks(const std::vector<int64_t>& bytes, int world) {
  std::vector<size_t> order(bytes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bytes[a] > bytes[b]; });
  std::vector<int64_t> load(world, 0);
  std::vector<int> owner(bytes.size(), 0);
  for (size_t i : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = r;
    load[r] += bytes[i];
  }
  return owner;
}

std::vector<size_t> ParametersToSave(const std::vector<HeldParameter>& held, int dp, int dp_rank) {
  std::vector<size_t> candidates;
  std::vector<int64_t> bytes;
  for (size_t i = 0; i < held.size(); ++i) {
    if (!held[i].saved_here) continue;
    candidates.push_back(i);
    int64_t n = 0;
    for (const Box& p : held[i].pieces) n += Volume(p.shape);
    bytes.push_back(3 * n * 4);  // the value and its two moments, fp32
  }
  const std::vector<int> owner = AssignToRanks(bytes, dp);
  std::vector<size_t> mine;
  for (size_t j = 0; j < candidates.size(); ++j) {
    if (owner[j] == dp_rank) mine.push_back(candidates[j]);
  }
  return mine;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace mt::ckpt
