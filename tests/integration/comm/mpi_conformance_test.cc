// The MPI backend through the shared conformance suite. Run under mpirun (ctest starts it with
// 1-4 processes); every process runs the same tests in the same order.
#include "gtest/gtest.h"
#include "runtime/comm/mpi/mpi_backend.h"
#include "tests/support/comm_conformance.h"

namespace mt::comm {
namespace {

using namespace mt::comm::testing;

Backend& World() {
  static std::unique_ptr<Backend> world = [] {
    auto b = CreateMpiWorldBackend();
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? std::move(*b) : nullptr;
  }();
  return *world;
}

TEST(MpiConformance, AllReduceEveryOpAndCount) { CheckAllReduce(World()); }
TEST(MpiConformance, ReduceScatterAllGatherBroadcast) {
  CheckReduceScatterAllGatherBroadcast(World());
}
TEST(MpiConformance, SendRecvKeepsOrderPerPairAndTag) { CheckSendRecvOrder(World()); }
TEST(MpiConformance, SplitFormsSubGroups) { CheckSplit(World()); }
TEST(MpiConformance, Bf16IsAClearUnimplemented) { CheckBf16IsUnimplemented(World()); }
TEST(MpiConformance, RecorderKeepsTheOps) {
  auto ops = World().recorder().Snapshot();
  ASSERT_FALSE(ops.empty());
  EXPECT_EQ(ops.front().op, "allreduce");
  EXPECT_EQ(ops.back().state, OpState::kCompleted);
}

// After RecorderKeepsTheOps, which looks at the first ops this communicator ran.
TEST(MpiConformance, InPlaceAndOutOfPlaceForms) { CheckOtherPlacements(World()); }

}  // namespace
}  // namespace mt::comm
