// Pipeline schedules: for every p in 1..4, m in 1..16 (and v in 1..3 interleaved) the
// simulation runs every action without deadlock, every send has its receive, the idle share
// of a stage is exactly (p-1)/(m+p-1) (interleaved (p-1)/(v*m+p-1)), and the in-flight
// micro-batches per stage are as promised (GPipe m, 1F1B <= p). Broken lists are named.
#include "parallelism/pipeline/schedule.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mt::pipeline {
namespace {

using ::testing::HasSubstr;

double Bubble(int p, int m, int v = 1) { return (p - 1.0) / (v * m + p - 1.0); }

TEST(Schedule, GPipeAndOneFOneBMeetTheBubbleFormula) {
  for (int p = 1; p <= 4; ++p) {
    for (int m = 1; m <= 16; ++m) {
      for (const char* name : {"gpipe", "1f1b"}) {
        auto sc = MakeSchedule(name, p, m, 1);
        ASSERT_TRUE(sc.ok()) << sc.status();
        auto sim = Simulate(*sc);
        ASSERT_TRUE(sim.ok()) << name << " p=" << p << " m=" << m << ": " << sim.status();
        EXPECT_EQ(sim->slots, 2 * (m + p - 1)) << name << " p=" << p << " m=" << m;
        EXPECT_NEAR(sim->idle_fraction, Bubble(p, m), 1e-12) << name << " p=" << p << " m=" << m;
        EXPECT_EQ(sim->sends, sim->receives);
        EXPECT_EQ(sim->sends, 2 * int64_t{m} * (p - 1));
        for (int s = 0; s < p; ++s) {
          if (std::string(name) == "gpipe") {
            EXPECT_EQ(sim->peak_in_flight[s], m);
          } else {
            EXPECT_LE(sim->peak_in_flight[s], std::min(p - s, m)) << "1f1b stage " << s;
          }
        }
      }
    }
  }
}

TEST(Schedule, InterleavedDividesTheBubbleByTheChunks) {
  for (int p = 1; p <= 4; ++p) {
    for (int v = 1; v <= 3; ++v) {
      for (int m = p; m <= 16; m += p) {
        auto sc = Interleaved(p, m, v);
        ASSERT_TRUE(sc.ok()) << sc.status();
        auto sim = Simulate(*sc);
        ASSERT_TRUE(sim.ok()) << "p=" << p << " m=" << m << " v=" << v << ": " << sim.status();
        EXPECT_NEAR(sim->idle_fraction, Bubble(p, m, v), 1e-12)
            << "p=" << p << " m=" << m << " v=" << v << " slots " << sim->slots;
        EXPECT_EQ(sim->sends, sim->receives);
        EXPECT_EQ(sim->sends, 2 * int64_t{m} * (p * v - 1));
      }
    }
  }
  EXPECT_THAT(std::string(Interleaved(4, 6, 2).status().message()),
              HasSubstr("multiple of the stages"));
}

TEST(Schedule, OneFOneBKeepsAtMostPMicroBatchesInFlight) {
  auto sc = OneFOneB(4, 16);
  auto sim = Simulate(*sc);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(sim->peak_in_flight, (std::vector<int>{4, 3, 2, 1}));
  // The first stage: 3 warm-up forwards, then F/B alternating, then 3 backwards.
  const auto& s0 = sc->per_stage[0];
  EXPECT_EQ(s0[0], (Action{Op::kForward, 0, 0}));
  EXPECT_EQ(s0[3], (Action{Op::kForward, 3, 0}));
  EXPECT_EQ(s0[4], (Action{Op::kBackward, 0, 0}));
  EXPECT_EQ(s0.back(), (Action{Op::kBackward, 15, 0}));
}

TEST(Schedule, BrokenListsAreNamed) {
  Schedule sc = *OneFOneB(2, 2);
  std::swap(sc.per_stage[1][0], sc.per_stage[1][1]);  // a backward before its forward
  EXPECT_THAT(std::string(Simulate(sc).status().message()),
              HasSubstr("stage 1: backward(micro-batch 0, chunk 0) before its forward"));
  sc = *OneFOneB(2, 2);
  sc.per_stage[0].pop_back();
  EXPECT_THAT(std::string(Simulate(sc).status().message()),
              HasSubstr("stage 0: not every micro-batch runs"));
  // Stage 0 waits in backward 0 for stage 1, which first wants forward 1 from stage 0.
  sc.per_stage = {
      {{Op::kForward, 0, 0}, {Op::kBackward, 0, 0}, {Op::kForward, 1, 0}, {Op::kBackward, 1, 0}},
      {{Op::kForward, 1, 0}, {Op::kForward, 0, 0}, {Op::kBackward, 0, 0}, {Op::kBackward, 1, 0}}};
  auto dead = Simulate(sc);
  EXPECT_EQ(dead.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(dead.status().message()),
              HasSubstr("deadlock: stage 0 waits forever to run backward(micro-batch 0"));
  EXPECT_EQ(MakeSchedule("zigzag", 2, 2, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mt::pipeline
