// The process mesh (DESIGN §3 "Mesh and parallelism"): world = dp * tp * pp ranks, numbered
// tp fastest (tensor-parallel peers share a node), then dp, then pp. A rank's three groups are
// the ranks that differ from it in one coordinate only: its tp group (same pp and dp), its dp
// group (same pp and tp) and its pp group (same dp and tp). Pure functions, plus MakeGroups
// which builds the three sub-communicators with Split.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/comm/backend.h"

namespace mt::mesh {

struct Shape {
  int dp = 1, tp = 1, pp = 1;
  int world() const { return dp * tp * pp; }
};

struct Coords {
  int pp = 0, dp = 0, tp = 0;
  bool operator==(const Coords&) const = default;
};

Coords CoordsOf(const Shape& shape, int rank);
int RankOf(const Shape& shape, const Coords& coords);

enum class Axis { kTp, kDp, kPp };
// The ranks of `rank`'s group along `axis`, in order of that coordinate.
std::vector<int> Group(const Shape& shape, int rank, Axis axis);

// A table of every rank's coordinates, for rank 0 to print at start:
//   mesh dp=2 tp=2 pp=2 (8 ranks, tp fastest)
//     rank 0: pp 0 dp 0 tp 0 ...
std::string Describe(const Shape& shape);

struct Groups {
  std::unique_ptr<comm::Backend> tp, dp, pp;  // each ranked by its own coordinate
};
// Splits `world` (ranked as the mesh) into this rank's three groups. Collective: every rank of
// the world calls it. InvalidArgument when the world's size is not the mesh's.
absl::StatusOr<Groups> MakeGroups(comm::Backend& world, const Shape& shape);

}  // namespace mt::mesh
