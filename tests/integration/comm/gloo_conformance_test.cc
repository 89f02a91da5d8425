// Conformance of the Gloo backend: every op x world sizes 1-4 x element counts 0, 1, 7,
// 2^20 + 3 x reduce ops, against a CPU reference, with ranks as threads over loopback TCP.
// Inputs are small integers so float sums are exact whatever the reduction order.
// Also: bf16 is a clear Unimplemented, Split sub-groups, Send/Recv ordering, a rank that never
// joins (others fail with DeadlineExceeded in time) and the flight recorder on failure.
#include <atomic>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/comm/gloo/gloo_backend.h"

namespace mt::comm {
namespace {

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

float Input(int rank, int64_t i) { return static_cast<float>((rank * 7 + i) % 13 - 6); }

float Reference(ReduceOp op, int world, int64_t i) {
  float acc = Input(0, i);
  for (int r = 1; r < world; ++r) {
    const float x = Input(r, i);
    acc = op == ReduceOp::kMax   ? std::max(acc, x)
          : op == ReduceOp::kMin ? std::min(acc, x)
                                 : acc + x;
  }
  return op == ReduceOp::kAvg ? acc / world : acc;
}

void ExpectReduced(const std::vector<float>& got, ReduceOp op, int world, int64_t offset,
                   const std::string& what) {
  int64_t wrong = 0, first = -1;
  for (int64_t i = 0; i < static_cast<int64_t>(got.size()); ++i) {
    if (std::fabs(got[i] - Reference(op, world, offset + i)) > 1e-6f) {
      if (first < 0) first = i;
      ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0) << what << " first wrong element " << first;
}

const int64_t kCounts[] = {0, 1, 7, (1 << 20) + 3};
const ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin};

class GlooConformance : public ::testing::TestWithParam<int> {};

TEST_P(GlooConformance, AllReduceEveryOpAndCount) {
  const int world = GetParam();
  RunRanks(world, [&](Backend& b) {
    for (int64_t n : kCounts) {
      for (ReduceOp op : kOps) {
        std::vector<float> buf(n);
        for (int64_t i = 0; i < n; ++i) buf[i] = Input(b.rank(), i);
        Options o;
        o.op = op;
        ASSERT_TRUE(b.AllReduce(buf.data(), n, DType::kF32, o)->Wait(60s).ok());
        ExpectReduced(buf, op, world, 0,
                      fmt::format("allreduce {} n={} rank {}", ReduceOpName(op), n, b.rank()));
      }
    }
  });
}

TEST_P(GlooConformance, ReduceScatterAllGatherBroadcast) {
  const int world = GetParam();
  RunRanks(world, [&](Backend& b) {
    for (int64_t n : kCounts) {
      std::vector<float> in(n * world), out(n);
      for (int64_t i = 0; i < n * world; ++i) in[i] = Input(b.rank(), i);
      for (ReduceOp op : kOps) {
        Options o;
        o.op = op;
        ASSERT_TRUE(b.ReduceScatter(in.data(), out.data(), n, DType::kF32, o)->Wait(60s).ok());
        ExpectReduced(out, op, world, b.rank() * n, fmt::format("reducescatter n={}", n));
      }
      std::vector<float> mine(n), all(n * world);
      for (int64_t i = 0; i < n; ++i) mine[i] = Input(b.rank(), i);
      ASSERT_TRUE(b.AllGather(mine.data(), all.data(), n, DType::kF32)->Wait(60s).ok());
      for (int r = 0; r < world && n > 0; ++r) {
        EXPECT_EQ(all[r * n + n - 1], Input(r, n - 1)) << "allgather block " << r;
      }
      const int root = world - 1;
      std::vector<float> buf(n, -1.0f);
      if (b.rank() == root) buf = mine;
      ASSERT_TRUE(b.Broadcast(buf.data(), n, DType::kF32, root)->Wait(60s).ok());
      for (int64_t i = 0; i < n; i += 4099) EXPECT_EQ(buf[i], Input(root, i));
    }
    ASSERT_TRUE(b.Barrier()->Wait(60s).ok());
  });
}

TEST_P(GlooConformance, SendRecvKeepsOrderPerPairAndTag) {
  const int world = GetParam();
  if (world < 2) GTEST_SKIP() << "needs a peer";
  RunRanks(world, [&](Backend& b) {
    const int next = (b.rank() + 1) % world, prev = (b.rank() + world - 1) % world;
    std::vector<float> first(5, 100.0f + b.rank()), second(5, 200.0f + b.rank());
    std::vector<float> r1(5), r2(5);
    auto s1 = b.Send(first.data(), 5, DType::kF32, next, 3);
    auto s2 = b.Send(second.data(), 5, DType::kF32, next, 3);
    auto w1 = b.Recv(r1.data(), 5, DType::kF32, prev, 3);
    auto w2 = b.Recv(r2.data(), 5, DType::kF32, prev, 3);
    for (auto* w : {&s1, &s2, &w1, &w2}) ASSERT_TRUE((*w)->Wait(30s).ok());
    EXPECT_EQ(r1[4], 100.0f + prev);
    EXPECT_EQ(r2[0], 200.0f + prev);
  });
}

TEST_P(GlooConformance, SplitFormsSubGroups) {
  const int world = GetParam();
  RunRanks(world, [&](Backend& b) {
    const int color = b.rank() % 2;
    auto sub = b.Split(color, -b.rank());  // reversed order inside each group
    ASSERT_TRUE(sub.ok()) << sub.status();
    const int members = (world + 1 - color) / 2;
    ASSERT_EQ((*sub)->size(), members);
    float v = static_cast<float>(b.rank());
    ASSERT_TRUE((*sub)->AllReduce(&v, 1, DType::kF32)->Wait(30s).ok());
    float expected = 0;
    for (int r = color; r < world; r += 2) expected += r;
    EXPECT_EQ(v, expected);
    // Keys are -rank, so the highest rank of each color comes first: new rank = the number of
    // same-color ranks above this one.
    EXPECT_EQ((*sub)->rank(), (world - 1 - b.rank()) / 2) << "rank " << b.rank();
  });
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, GlooConformance, ::testing::Values(1, 2, 3, 4));

TEST(GlooBackend, Bf16IsAClearUnimplemented) {
  RunRanks(1, [](Backend& b) {
    uint16_t x = 0;
    absl::Status st = b.AllReduce(&x, 1, DType::kBF16)->Wait(1s);
    EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(std::string(st.message()), HasSubstr("gloo backend supports f32 only"));
  });
}

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

}  // namespace
}  // namespace mt::comm
