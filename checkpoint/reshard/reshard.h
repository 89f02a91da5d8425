// Slice and overlap math for checkpoints (DESIGN §3 "Load ... builds a plan that maps saved
// slices onto the new mesh"): which rank of a dp group writes which tensor, and which element
// runs of a saved slice land where in the tensors a rank holds. Pure functions without I/O, the
// same on every rank, so any (dp, tp, pp) reads a checkpoint of any other mesh; the shard
// readers and writers (train/checkpointing, checkpoint/store) apply what these plan.
//
// Layout conventions: a box is `shape` elements at `offset` in a global tensor, stored
// row-major. A rank holds a tensor as one or more boxes ("pieces", nn::SlicePieces) stored one
// after another in its local buffer; a saved slice is one box in its own buffer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::ckpt {

struct Box {
  std::vector<int64_t> offset, shape;
  bool operator==(const Box&) const = default;
};

int64_t Volume(const std::vector<int64_t>& shape);
// Whether two boxes of one tensor share an element (same rank of shape; empty boxes never do).
bool BoxesMeet(const Box& a, const Box& b);

// A contiguous run of `n` elements: at element `from` of the source buffer, to element `to` of
// the destination buffer.
struct Run {
  int64_t from = 0, to = 0, n = 0;
  bool operator==(const Run&) const = default;
};

// The runs that copy the elements `src` and `dst` share, from a buffer holding `src` to one
// holding `dst` at element `dst_base`; empty when they do not meet. Any number of dimensions
// (both boxes of the same rank), one run per row of the overlap along the last dimension.
std::vector<Run> OverlapRuns(const Box& src, const Box& dst, int64_t dst_base = 0);
// Applies `runs` (copies src[from, from + n) to dst[to, to + n) for each).
void ApplyRuns(const std::vector<Run>& runs, const float* src, float* dst);

// The runs from a saved slice into the pieces a rank holds (stored back to back), and the
// number of elements they copy. When `saved` is exactly one piece, `exact` is that piece's
// first element (the slice can be read straight into place), else -1.
struct SliceCopy {
  std::vector<Run> runs;
  int64_t elements = 0;
  int64_t exact = -1;
};
SliceCopy PlanSliceCopy(const Box& saved, const std::vector<Box>& pieces);

// Tracks which saved slices of one held tensor were planned: refuses a slice that overlaps one
// taken before (then counting covered elements is exact) and says when the held elements are
// complete. One per tensor a rank restores.
class Coverage {
 public:
  Coverage(std::vector<int64_t> global, std::vector<Box> pieces);
  const std::vector<int64_t>& global() const { return global_; }
  const std::vector<Box>& pieces() const { return pieces_; }
  // Whether a saved slice holds any element this rank needs.
  bool Needs(const Box& saved) const;
  // Plans `saved` (which Needs) and counts what it covers; InvalidArgument naming the two
  // boxes when it overlaps a slice taken before.
  absl::StatusOr<SliceCopy> Take(const Box& saved);
  int64_t covered() const { return covered_; }
  int64_t held() const { return held_; }

 private:
  std::vector<int64_t> global_;
  std::vector<Box> pieces_;
  std::vector<Box> taken_;
  int64_t covered_ = 0, held_ = 0;
};

// For each item (by bytes), the rank that writes it: greedy largest-first onto the least
// loaded rank, ties to the earlier item and the lower rank, so ranks write nearly equal shares.
// The same on every rank.
std::vector<int> AssignToRanks(const std::vector<int64_t>& bytes, int world);

// A parameter a rank holds, as the save plan sees it: its pieces of the global tensor, and
// whether this rank's copy is the one saved (false for a tied copy another stage saves, and for
// a tensor replicated over tp on tp ranks other than 0).
struct HeldParameter {
  std::string name;
  std::vector<int64_t> global;
  std::vector<Box> pieces;
  bool saved_here = true;
};
// The indices of `held` that dp replica `dp_rank` of `dp` writes: the parameters saved here,
// shared out by AssignToRanks over their sizes. Every replica of a slice computes the same
// split, so each slice is written exactly once.
std::vector<size_t> ParametersToSave(const std::vector<HeldParameter>& held, int dp, int dp_rank);

std::string ShapeText(const std::vector<int64_t>& shape);  // "[4, 8]"

}  // namespace mt::ckpt
