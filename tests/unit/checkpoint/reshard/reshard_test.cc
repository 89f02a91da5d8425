// checkpoint/reshard: the overlap runs against brute force, and the save and load plans of
// random meshes against each other: every element of every tensor is written by exactly one
// rank, and every element a loading rank holds is copied exactly once.
#include "checkpoint/reshard/reshard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "checkpoint/reshard/held.h"
#include "fmt/format.h"
#include "parallelism/pipeline/partition.h"
#include "runtime/nn/models.h"

namespace mt::ckpt {
namespace {

// The elements of a box, as flat indices into a tensor of `global` shape.
std::vector<int64_t> Elements(const Box& b, const std::vector<int64_t>& global) {
  std::vector<int64_t> out;
  const int64_t n = Volume(b.shape);
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, flat = 0, stride = 1;
    std::vector<int64_t> at(b.shape.size());
    for (size_t d = b.shape.size(); d-- > 0;) {
      at[d] = b.offset[d] + rest % b.shape[d];
      rest /= b.shape[d];
    }
    for (size_t d = global.size(); d-- > 0;) {
      flat += at[d] * stride;
      stride *= global[d];
    }
    out.push_back(flat);
  }
  return out;
}

Box RandomBox(const std::vector<int64_t>& global, std::mt19937& gen) {
  Box b;
  for (int64_t extent : global) {
    const int64_t lo = std::uniform_int_distribution<int64_t>(0, extent - 1)(gen);
    const int64_t hi = std::uniform_int_distribution<int64_t>(lo + 1, extent)(gen);
    b.offset.push_back(lo);
    b.shape.push_back(hi - lo);
  }
  return b;
}

TEST(OverlapRuns, CopyExactlyTheSharedElementsToTheirPlaces) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const int rank = 1 + trial % 3;
    std::vector<int64_t> global;
    for (int d = 0; d < rank; ++d) global.push_back(std::uniform_int_distribution<>(1, 7)(gen));
    const Box src = RandomBox(global, gen), dst = RandomBox(global, gen);
    const int64_t base = trial % 5;
    // Source buffer holds each element's flat global index; the copy must put each shared one
    // where dst keeps it, and nothing else.
    std::vector<int64_t> src_ids = Elements(src, global), dst_ids = Elements(dst, global);
    std::vector<float> from(src_ids.begin(), src_ids.end());
    std::vector<float> to(base + dst_ids.size(), -1.0f);
    ApplyRuns(OverlapRuns(src, dst, base), from.data(), to.data());
    const std::set<int64_t> in_src(src_ids.begin(), src_ids.end());
    for (int64_t i = 0; i < base; ++i) ASSERT_EQ(to[i], -1.0f);
    for (size_t i = 0; i < dst_ids.size(); ++i) {
      const float want = in_src.count(dst_ids[i]) ? static_cast<float>(dst_ids[i]) : -1.0f;
      ASSERT_EQ(to[base + i], want) << "trial " << trial << " element " << i;
    }
    EXPECT_EQ(BoxesMeet(src, dst), !OverlapRuns(src, dst).empty());
  }
}

TEST(PlanSliceCopy, ReadsAnExactPieceInPlace) {
  const std::vector<Box> pieces = {{{0, 0}, {2, 4}}, {{4, 0}, {2, 4}}};
  const SliceCopy exact = PlanSliceCopy({{4, 0}, {2, 4}}, pieces);
  EXPECT_EQ(exact.exact, 8);
  EXPECT_EQ(exact.elements, 8);
  const SliceCopy part = PlanSliceCopy({{1, 0}, {4, 4}}, pieces);  // rows 1..4
  EXPECT_EQ(part.exact, -1);
  EXPECT_EQ(part.elements, 8);  // row 1 of the first piece, row 4 of the second
  EXPECT_THAT(part.runs, ::testing::ElementsAre(ckpt::Run{0, 4, 4}, ckpt::Run{12, 8, 4}));
}

TEST(Coverage, RefusesOverlappingSavedSlices) {
  Coverage c({4, 4}, {{{0, 0}, {4, 4}}});
  ASSERT_TRUE(c.Take({{0, 0}, {2, 4}}).ok());
  auto again = c.Take({{1, 0}, {2, 4}});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(again.status().message()),
              ::testing::HasSubstr("saved slice [2, 4] at [1, 0] overlaps another saved slice"));
  EXPECT_EQ(c.covered(), 8);
  ASSERT_TRUE(c.Take({{2, 0}, {2, 4}}).ok());
  EXPECT_EQ(c.covered(), c.held());
}

TEST(AssignToRanks, SpreadsBytesEvenlyAndIsTheSameEverywhere) {
  const std::vector<int64_t> bytes = {100, 10, 90, 20, 80, 30, 70, 40, 60, 50};
  const std::vector<int> owner = AssignToRanks(bytes, 3);
  EXPECT_EQ(owner, AssignToRanks(bytes, 3));
  std::vector<int64_t> load(3, 0);
  for (size_t i = 0; i < bytes.size(); ++i) load[owner[i]] += bytes[i];
  EXPECT_LE(
      *std::max_element(load.begin(), load.end()) - *std::min_element(load.begin(), load.end()),
      10);
  EXPECT_EQ(AssignToRanks(bytes, 1), std::vector<int>(10, 0));
  const std::vector<int> sparse = AssignToRanks({5, 5}, 4);  // more ranks than tensors
  EXPECT_NE(sparse[0], sparse[1]);
}

// ---- save and load plans of whole meshes ----

// Layers stand in for nothing here: no forward runs, so tp ranks need no real group.
class NoCollectives final : public nn::TensorParallel {
 public:
  void AllReduceSum(float*, int64_t) override {}
  void AllReduceMax(float*, int64_t) override {}
  void AllReduceMin(float*, int64_t) override {}
};

struct Mesh {
  int dp = 1, tp = 1, pp = 1, chunks = 1;
  std::string Text() const { return fmt::format("dp {} tp {} pp {} x{}", dp, tp, pp, chunks); }
};

// 12 heads, d_ff 96, vocabulary 48: every tp in 1..4 divides them; 8 layers: pp * chunks <= 8.
const meshtrain::v1::ModelSpec kModel = nn::SpecOf({8, 12, 24, 16, 48});

// What rank (pp, tp) of `mesh` holds (the same on each dp replica).
std::vector<HeldParameter> Holding(const Mesh& mesh, int stage, int tp_rank) {
  static NoCollectives none;
  nn::Placement at;
  at.tp = mesh.tp;
  at.tp_rank = tp_rank;
  at.group = &none;
  at.chunks = pipeline::StageChunks(kModel.n_layer(), mesh.pp, mesh.chunks, stage);
  auto model = nn::CreateModel(kModel, 1, at);
  EXPECT_TRUE(model.ok()) << model.status();
  return HeldParameters(**model);
}

struct SavedBox {
  std::vector<int64_t> global;
  Box box;
};

// Every slice a mesh saves, by parameter; checks each element is saved exactly once.
std::multimap<std::string, SavedBox> SavePlan(const Mesh& mesh) {
  std::multimap<std::string, SavedBox> saved;
  std::map<std::string, std::vector<int>> written;  // per element, how many ranks wrote it
  for (int stage = 0; stage < mesh.pp; ++stage) {
    for (int t = 0; t < mesh.tp; ++t) {
      const std::vector<HeldParameter> held = Holding(mesh, stage, t);
      for (int d = 0; d < mesh.dp; ++d) {
        for (size_t i : ParametersToSave(held, mesh.dp, d)) {
          std::vector<int>& count = written[held[i].name];
          count.resize(Volume(held[i].global));
          for (const Box& b : held[i].pieces) {
            saved.insert({held[i].name, {held[i].global, b}});
            for (int64_t e : Elements(b, held[i].global)) ++count[e];
          }
        }
      }
    }
  }
  for (const auto& [name, count] : written) {
    for (size_t e = 0; e < count.size(); ++e) {
      EXPECT_EQ(count[e], 1) << mesh.Text() << ": " << name << " element " << e;
    }
  }
  return saved;
}

// Loads `saved` into every rank of `mesh` as the restore does; every held element once.
void LoadPlan(const std::multimap<std::string, SavedBox>& saved, const Mesh& mesh,
              const std::string& what) {
  for (int stage = 0; stage < mesh.pp; ++stage) {
    for (int t = 0; t < mesh.tp; ++t) {
      for (const HeldParameter& p : Holding(mesh, stage, t)) {
        Coverage c(p.global, p.pieces);
        std::vector<int> hits(c.held(), 0);
        auto [first, last] = saved.equal_range(p.name);
        ASSERT_NE(first, last) << what << ": nothing saved of " << p.name;
        for (auto it = first; it != last; ++it) {
          ASSERT_EQ(it->second.global, p.global) << what << ": " << p.name;
          if (!c.Needs(it->second.box)) {
            EXPECT_EQ(PlanSliceCopy(it->second.box, p.pieces).elements, 0);
            continue;
          }
          auto copy = c.Take(it->second.box);
          ASSERT_TRUE(copy.ok()) << what << ": " << copy.status();
          for (const Run& r : copy->runs) {
            for (int64_t k = 0; k < r.n; ++k) ++hits[r.to + k];
          }
        }
        EXPECT_EQ(c.covered(), c.held()) << what << ": " << p.name;
        for (size_t e = 0; e < hits.size(); ++e) {
          ASSERT_EQ(hits[e], 1) << what << ": " << p.name << " local element " << e;
        }
      }
    }
  }
}

Mesh RandomMesh(std::mt19937& gen) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<>(lo, hi)(gen); };
  Mesh m{pick(1, 4), pick(1, 4), pick(1, 4), 1};
  if (m.pp > 1 && m.pp * 2 <= kModel.n_layer() && pick(0, 1)) m.chunks = 2;
  return m;
}

// ZeRO-1 reaches these plans as whole tensors per parameter (the trainer gathers the sharded
// moments before a save and scatters them after a restore), so the plans are ZeRO's too.
TEST(MeshToMesh, EveryElementSavedOnceAndLoadedOnce) {
  std::mt19937 gen(2026);
  for (int trial = 0; trial < 60; ++trial) {
    const Mesh from = RandomMesh(gen), to = RandomMesh(gen);
    const auto saved = SavePlan(from);
    LoadPlan(saved, to, from.Text() + " -> " + to.Text());
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace mt::ckpt
