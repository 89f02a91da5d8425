// The process mesh (see mesh.h).
#include "parallelism/mesh/mesh.h"

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::mesh {

Coords CoordsOf(const Shape& s, int rank) {
  MT_CHECK(rank >= 0 && rank < s.world());
  return Coords{rank / (s.tp * s.dp), (rank / s.tp) % s.dp, rank % s.tp};
}

int RankOf(const Shape& s, const Coords& c) { return (c.pp * s.dp + c.dp) * s.tp + c.tp; }

std::vector<int> Group(const Shape& s, int rank, Axis axis) {
  const Coords me = CoordsOf(s, rank);
  const int n = axis == Axis::kTp ? s.tp : axis == Axis::kDp ? s.dp : s.pp;
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    Coords c = me;
    (axis == Axis::kTp ? c.tp : axis == Axis::kDp ? c.dp : c.pp) = i;
    out.push_back(RankOf(s, c));
  }
  return out;
}

std::string Describe(const Shape& s) {
  std::string out =
      fmt::format("mesh dp={} tp={} pp={} ({} ranks, tp fastest)\n", s.dp, s.tp, s.pp, s.world());
  for (int r = 0; r < s.world(); ++r) {
    const Coords c = CoordsOf(s, r);
    out += fmt::format("  rank {}: pp {} dp {} tp {}\n", r, c.pp, c.dp, c.tp);
  }
  return out;
}

absl::StatusOr<Groups> MakeGroups(comm::Backend& world, const Shape& s) {
  if (world.size() != s.world()) {
    return absl::InvalidArgumentError(
        fmt::format("mesh dp={} tp={} pp={} needs {} ranks; the world has {}", s.dp, s.tp, s.pp,
                    s.world(), world.size()));
  }
  const Coords c = CoordsOf(s, world.rank());
  // A group's color is the rank's position with its own coordinate zeroed: unique per group.
  Groups g;
  MT_ASSIGN_OR_RETURN(g.tp, world.Split(RankOf(s, {c.pp, c.dp, 0}), c.tp));
  MT_ASSIGN_OR_RETURN(g.dp, world.Split(RankOf(s, {c.pp, 0, c.tp}), c.dp));
  MT_ASSIGN_OR_RETURN(g.pp, world.Split(RankOf(s, {0, c.dp, c.tp}), c.pp));
  return g;
}

}  // namespace mt::mesh
