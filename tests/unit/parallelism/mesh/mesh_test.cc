// The mesh: coordinates round-trip for every rank of several shapes, tp is fastest, the three
// groups partition the world along one coordinate each, and MakeGroups over Gloo (ranks as
// threads, (2,2,2)) gives sub-communicators whose all-reduces sum exactly their members.
#include "parallelism/mesh/mesh.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "runtime/comm/factory.h"
#include "runtime/comm/store.h"

namespace mt::mesh {
namespace {

using namespace std::chrono_literals;

TEST(Mesh, CoordsRoundTripWithTpFastest) {
  for (Shape s : {Shape{1, 1, 1}, Shape{2, 2, 2}, Shape{4, 1, 2}, Shape{3, 2, 1}, Shape{1, 4, 3}}) {
    std::set<std::tuple<int, int, int>> seen;
    for (int r = 0; r < s.world(); ++r) {
      const Coords c = CoordsOf(s, r);
      EXPECT_EQ(RankOf(s, c), r);
      seen.insert({c.pp, c.dp, c.tp});
    }
    EXPECT_EQ(static_cast<int>(seen.size()), s.world());
  }
  const Shape s{2, 2, 2};
  EXPECT_EQ(CoordsOf(s, 1), (Coords{0, 0, 1}));
  EXPECT_EQ(CoordsOf(s, 2), (Coords{0, 1, 0}));
  EXPECT_EQ(CoordsOf(s, 4), (Coords{1, 0, 0}));
  EXPECT_EQ(Group(s, 5, Axis::kTp), (std::vector<int>{4, 5}));
  EXPECT_EQ(Group(s, 5, Axis::kDp), (std::vector<int>{5, 7}));
  EXPECT_EQ(Group(s, 5, Axis::kPp), (std::vector<int>{1, 5}));
  EXPECT_NE(Describe(s).find("rank 5: pp 1 dp 0 tp 1"), std::string::npos) << Describe(s);
}

TEST(Mesh, GroupsPartitionTheWorld) {
  const Shape s{3, 2, 2};
  for (Axis axis : {Axis::kTp, Axis::kDp, Axis::kPp}) {
    std::set<int> covered;
    for (int r = 0; r < s.world(); ++r) {
      const auto g = Group(s, r, axis);
      EXPECT_NE(std::find(g.begin(), g.end(), r), g.end());
      for (int m : g) EXPECT_EQ(Group(s, m, axis), g) << "groups disagree";
      covered.insert(g.begin(), g.end());
    }
    EXPECT_EQ(static_cast<int>(covered.size()), s.world());
  }
}

TEST(Mesh, MakeGroupsBuildsTheThreeSubCommunicators) {
  const Shape s{2, 2, 2};
  auto store = comm::MakePrefixStore("mesh", comm::MakeMemoryStore());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int r = 0; r < s.world(); ++r) {
    threads.emplace_back([&, r] {
      auto world = comm::CreateBackend("gloo", store, r, s.world());
      ASSERT_TRUE(world.ok()) << world.status();
      auto groups = MakeGroups(**world, s);
      ASSERT_TRUE(groups.ok()) << groups.status();
      const Coords c = CoordsOf(s, r);
      int checked = 0;
      for (auto [axis, group, coord] : {std::tuple{Axis::kTp, groups->tp.get(), c.tp},
                                        std::tuple{Axis::kDp, groups->dp.get(), c.dp},
                                        std::tuple{Axis::kPp, groups->pp.get(), c.pp}}) {
        ASSERT_EQ(group->size(), 2);
        EXPECT_EQ(group->rank(), coord);
        float v = static_cast<float>(r);
        ASSERT_TRUE(group->AllReduce(&v, 1, DType::kF32)->Wait(30s).ok());
        float want = 0;
        for (int m : Group(s, r, axis)) want += static_cast<float>(m);
        EXPECT_EQ(v, want) << "rank " << r;
        ++checked;
      }
      if (checked == 3) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), s.world());
  auto lone = comm::CreateBackend("gloo", comm::MakeMemoryStore(), 0, 1);
  EXPECT_EQ(MakeGroups(**lone, s).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mt::mesh
