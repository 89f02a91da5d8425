// Store implementations: the same behaviour suite for the memory and file stores (blocking
// reads across threads, timeouts naming the missing keys, atomic Add and CompareSet under
// contention), plus prefix namespacing, and the flight recorder.
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/comm/flight_recorder.h"
#include "runtime/comm/store.h"
#include "tests/support/temp_dir.h"

namespace mt::comm {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "memory") {
      store_ = MakeMemoryStore();
    } else {
      auto s = MakeFileStore(dir_.path() + "/store");
      ASSERT_TRUE(s.ok()) << s.status();
      store_ = *s;
    }
  }
  mt::testing::TempDir dir_;
  std::shared_ptr<Store> store_;
};

TEST_P(StoreTest, GetBlocksUntilAnotherThreadSets) {
  std::thread setter([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(store_->Set("rank/1", std::string("addr\0bin", 8)).ok());
  });
  auto v = store_->Get("rank/1", 5000ms);
  setter.join();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, std::string("addr\0bin", 8));  // values are bytes
}

TEST_P(StoreTest, TimeoutsNameTheMissingKeys) {
  ASSERT_TRUE(store_->Set("a", "1").ok());
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = store_->Wait({"a", "b", "c"}, 100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(st.message()), HasSubstr("b, c"));
  EXPECT_EQ(store_->Get("zzz", 10ms).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_P(StoreTest, AddIsAtomicUnderContention) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(store_->Add("counter", 2).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*store_->Add("counter", 0), 200);
  ASSERT_TRUE(store_->Set("text", "abc").ok());
  EXPECT_EQ(store_->Add("text", 1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreTest, CompareSetElectsExactlyOneWinner) {
  std::vector<std::thread> threads;
  std::atomic<int> winners{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto r = store_->CompareSet("leader", "", std::to_string(t));
      ASSERT_TRUE(r.ok());
      if (*r == std::to_string(t)) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(*store_->CompareSet("leader", "nope", "x"), *store_->Get("leader", 10ms));
}

TEST_P(StoreTest, PrefixStoresAreDisjointNamespaces) {
  auto g1 = MakePrefixStore("gen1", store_), g2 = MakePrefixStore("gen2", store_);
  ASSERT_TRUE(g1->Set("k", "one").ok());
  EXPECT_EQ(*g1->Get("k", 10ms), "one");
  EXPECT_FALSE(g2->Get("k", 10ms).ok());
  EXPECT_EQ(*store_->Get("gen1/k", 10ms), "one");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "file"));

TEST(FlightRecorder, KeepsTheLastOpsWithTheirStates) {
  FlightRecorder r(3);
  uint64_t a = r.Queue("allreduce", 400, -1);
  r.Start(a);
  r.Finish(a, "");
  uint64_t b = r.Queue("send", 8, 2);
  r.Start(b);
  r.Finish(b, "peer closed");
  uint64_t c = r.Queue("barrier", 0, -1);
  r.Start(c);
  uint64_t d = r.Queue("allgather", 16, -1);
  auto ops = r.Snapshot();
  ASSERT_EQ(ops.size(), 3u);  // the oldest fell out
  EXPECT_EQ(ops[0].seq, b);
  EXPECT_EQ(ops[0].state, OpState::kFailed);
  EXPECT_EQ(ops[0].error, "peer closed");
  EXPECT_EQ(ops[1].state, OpState::kRunning);
  EXPECT_EQ(ops[2].state, OpState::kQueued);
  EXPECT_THAT(r.Describe(c), HasSubstr("barrier #3 (0 bytes) running for"));
  EXPECT_THAT(r.Describe(b), HasSubstr("send #2 (8 bytes, peer 2) failed for"));
  EXPECT_EQ(r.Describe(d), "allgather #4 (16 bytes) queued");
  EXPECT_EQ(r.Last()->seq, d);
  EXPECT_EQ(d, 4u);
  // Slots are reused: an op that fell out is gone (and touching it changes nothing), and a
  // reused slot carries nothing of its old record.
  EXPECT_EQ(r.Describe(a), "");
  r.Finish(a, "late");
  EXPECT_EQ(r.Snapshot()[2].state, OpState::kQueued);   // d, in a's old slot
  const uint64_t e = r.Queue("reducescatter", 32, -1);  // b's old slot
  ops = r.Snapshot();
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[2].seq, e);
  EXPECT_EQ(ops[2].error, "");
  EXPECT_EQ(ops[2].state, OpState::kQueued);
  // Cancelled before it ran: failed, with no duration.
  r.Finish(e, "cancelled: communicator destroyed");
  EXPECT_EQ(r.Describe(e), "reducescatter #5 (32 bytes) failed");
  EXPECT_FALSE(FlightRecorder(4).Last().has_value());
}

}  // namespace
}  // namespace mt::comm
