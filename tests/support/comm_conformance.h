// The backend conformance suite (ggml style: one suite, every backend). Each Check* runs on
// one rank against that rank's Backend and asserts against a CPU reference; the harness runs it
// on every rank (threads for Gloo, mpirun processes for MPI). Inputs are small integers so
// float sums are exact whatever order the engine reduces in.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "runtime/comm/backend.h"

namespace mt::comm::testing {

using namespace std::chrono_literals;

inline float Input(int rank, int64_t i) { return static_cast<float>((rank * 7 + i) % 13 - 6); }

inline float Reference(ReduceOp op, int world, int64_t i) {
  float acc = Input(0, i);
  for (int r = 1; r < world; ++r) {
    const float x = Input(r, i);
    acc = op == ReduceOp::kMax   ? std::max(acc, x)
          : op == ReduceOp::kMin ? std::min(acc, x)
                                 : acc + x;
  }
  return op == ReduceOp::kAvg ? acc / world : acc;
}

inline void ExpectReduced(const std::vector<float>& got, ReduceOp op, int world, int64_t offset,
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

inline const int64_t kCounts[] = {0, 1, 7, (1 << 20) + 3};
inline const ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin};

inline void CheckAllReduce(Backend& b) {
  const int world = b.size();
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
}

inline void CheckReduceScatterAllGatherBroadcast(Backend& b) {
  const int world = b.size();
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
}

// The other placement of each op: AllReduce and Broadcast out of place (the input must be
// left as it was), ReduceScatter and AllGather in place (NCCL's aliasing: the rank's block of
// the larger buffer). Every count and reduce op, checked against the same reference.
inline void CheckOtherPlacements(Backend& b) {
  const int world = b.size(), rank = b.rank();
  for (int64_t n : kCounts) {
    std::vector<float> mine(n);
    for (int64_t i = 0; i < n; ++i) mine[i] = Input(rank, i);
    for (ReduceOp op : kOps) {
      Options o;
      o.op = op;
      const std::string what = fmt::format("{} n={} rank {}", ReduceOpName(op), n, rank);
      std::vector<float> in = mine, out(n, -99.0f);
      ASSERT_TRUE(b.AllReduce(in.data(), out.data(), n, DType::kF32, o)->Wait(60s).ok());
      ExpectReduced(out, op, world, 0, "out-of-place allreduce " + what);
      EXPECT_EQ(in, mine) << "out-of-place allreduce changed its input, " << what;

      std::vector<float> full(n * world);
      for (int64_t i = 0; i < n * world; ++i) full[i] = Input(rank, i);
      ASSERT_TRUE(
          b.ReduceScatter(full.data(), full.data() + rank * n, n, DType::kF32, o)->Wait(60s).ok());
      std::vector<float> block(full.begin() + rank * n, full.begin() + (rank + 1) * n);
      ExpectReduced(block, op, world, rank * n, "in-place reducescatter " + what);
    }
    std::vector<float> all(n * world, -99.0f);
    std::copy(mine.begin(), mine.end(), all.begin() + rank * n);
    ASSERT_TRUE(b.AllGather(all.data() + rank * n, all.data(), n, DType::kF32)->Wait(60s).ok());
    int64_t wrong = 0;
    for (int64_t i = 0; i < n * world; ++i)
      wrong += all[i] != Input(static_cast<int>(i / n), i % n);
    EXPECT_EQ(wrong, 0) << "in-place allgather n=" << n << " rank " << rank;

    const int root = world / 2;
    std::vector<float> src = mine, dst(n, -1.0f);
    ASSERT_TRUE(b.Broadcast(src.data(), dst.data(), n, DType::kF32, root)->Wait(60s).ok());
    wrong = 0;
    for (int64_t i = 0; i < n; ++i) wrong += dst[i] != Input(root, i);
    EXPECT_EQ(wrong, 0) << "out-of-place broadcast n=" << n << " rank " << rank;
    EXPECT_EQ(src, mine) << "out-of-place broadcast changed its input";
  }
  ASSERT_TRUE(b.Barrier()->Wait(60s).ok());
}

// A ring: two messages to the next rank with one tag arrive in send order.
inline void CheckSendRecvOrder(Backend& b) {
  const int world = b.size();
  if (world < 2) return;
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
}

// Even and odd ranks form two groups, ordered by descending rank (key = -rank).
inline void CheckSplit(Backend& b) {
  const int world = b.size(), color = b.rank() % 2;
  auto sub = b.Split(color, -b.rank());
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_EQ((*sub)->size(), (world + 1 - color) / 2);
  float v = static_cast<float>(b.rank());
  ASSERT_TRUE((*sub)->AllReduce(&v, 1, DType::kF32)->Wait(30s).ok());
  float expected = 0;
  for (int r = color; r < world; r += 2) expected += r;
  EXPECT_EQ(v, expected);
  EXPECT_EQ((*sub)->rank(), (world - 1 - b.rank()) / 2) << "rank " << b.rank();
  auto none = b.Split(-1, 0);  // opting out
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
}

inline void CheckBf16IsUnimplemented(Backend& b) {
  uint16_t x = 0;
  absl::Status st = b.AllReduce(&x, 1, DType::kBF16)->Wait(1s);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  EXPECT_NE(std::string(st.message()).find("supports f32 only"), std::string::npos);
}

}  // namespace mt::comm::testing
