// The Gloo backend through the shared conformance suite (tests/support/comm_conformance.h),
// world sizes 1-4, ranks as threads over loopback TCP; plus Gloo's failure behaviour: a rank
// that never joins fails the others with DeadlineExceeded in time, and a dead peer fails the
// collective with the flight recorder naming it.
#include <atomic>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/comm/factory.h"
#include "runtime/comm/gloo/gloo_backend.h"
#include "tests/support/comm_conformance.h"

namespace mt::comm {
namespace {

using namespace mt::comm::testing;

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Runs fn(backend) on `world` threads joined through one fresh store namespace.
void RunRanks(int world, const std::function<void(Backend&)>& fn) {
  static std::atomic<int> group{0};
  auto store = MakePrefixStore(fmt::format("g{}", group++), MakeMemoryStore());
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      GlooOptions o;
      o.timeout = 30s;
      auto b = CreateGlooBackend(store, r, world, o);
      ASSERT_TRUE(b.ok()) << b.status();
      fn(**b);
    });
  }
  for (auto& t : threads) t.join();
}

class GlooConformance : public ::testing::TestWithParam<int> {};

TEST_P(GlooConformance, AllReduceEveryOpAndCount) { RunRanks(GetParam(), CheckAllReduce); }
TEST_P(GlooConformance, ReduceScatterAllGatherBroadcast) {
  RunRanks(GetParam(), CheckReduceScatterAllGatherBroadcast);
}
TEST_P(GlooConformance, InPlaceAndOutOfPlaceForms) { RunRanks(GetParam(), CheckOtherPlacements); }
TEST_P(GlooConformance, SendRecvKeepsOrderPerPairAndTag) {
  RunRanks(GetParam(), CheckSendRecvOrder);
}
TEST_P(GlooConformance, SplitFormsSubGroups) { RunRanks(GetParam(), CheckSplit); }

INSTANTIATE_TEST_SUITE_P(WorldSizes, GlooConformance, ::testing::Values(1, 2, 3, 4));

TEST(GlooBackend, Bf16IsAClearUnimplemented) { RunRanks(1, CheckBf16IsUnimplemented); }

TEST(GlooBackend, RankThatNeverJoinsFailsTheOthersInTime) {
  auto store = MakeMemoryStore();
  GlooOptions o;
  o.timeout = 1s;
  const auto start = std::chrono::steady_clock::now();
  auto b = CreateGlooBackend(store, 0, 2, o);  // rank 1 never comes
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kDeadlineExceeded) << b.status();
  EXPECT_LT(took, 2s);  // timeout + 1 s
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("rank 0 of 2 could not connect"));
}

TEST(GlooBackend, DeadPeerFailsTheCollectiveAndTheRecorderNamesIt) {
  auto store = MakeMemoryStore();
  std::unique_ptr<Backend> survivor;
  std::thread t([&] {
    GlooOptions o;
    o.timeout = 5s;
    auto b = CreateGlooBackend(store, 1, 2, o);
    ASSERT_TRUE(b.ok());
    // Rank 1 leaves without ever joining the collective: its sockets close.
  });
  GlooOptions o;
  o.timeout = 5s;
  auto b = CreateGlooBackend(store, 0, 2, o);
  t.join();
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<float> buf(1000, 1.0f);
  Options opts;
  opts.timeout = 2s;
  absl::Status st = (*b)->AllReduce(buf.data(), 1000, DType::kF32, opts)->Wait(10s);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("allreduce #1"));
  auto ops = (*b)->recorder().Snapshot();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op, "allreduce");
  EXPECT_EQ(ops[0].state, OpState::kFailed);
}

TEST(BackendFactory, CreatesByNameAndExplainsTheRest) {
  auto store = MakeMemoryStore();
  auto gloo = CreateBackend("gloo", store, 0, 1);
  ASSERT_TRUE(gloo.ok()) << gloo.status();
  EXPECT_EQ((*gloo)->name(), "gloo");
  auto bad = CreateBackend("rdma", store, 0, 1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("unknown backend 'rdma'"));
}

}  // namespace
}  // namespace mt::comm
