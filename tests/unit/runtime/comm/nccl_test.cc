// The NCCL backend on one GPU (world 1: NCCL refuses two ranks on one device), through the
// Store bootstrap: every op's result and dtype handling on device buffers, Split, the recorder.
// Label gpu: skipped without a device. The shared conformance suite runs over NCCL with one
// rank per GPU in tests/integration/comm/nccl_conformance_test.cc.
#include <cuda_runtime_api.h>

#include <vector>

#include "gtest/gtest.h"
#include "runtime/comm/nccl/nccl_backend.h"
#include "runtime/tensor/dtype.h"

namespace mt::comm {
namespace {

using namespace std::chrono_literals;

TEST(NcclBackend, WorldOfOneOnDeviceBuffers) {
  auto b = CreateNcclBackend(MakeMemoryStore(), 0, 1);
  ASSERT_TRUE(b.ok()) << b.status();
  const int n = 1000;
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), 2 * n * sizeof(float)), cudaSuccess);
  std::vector<float> h(n);
  for (int i = 0; i < n; ++i) h[i] = i * 0.5f;
  ASSERT_EQ(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  Options avg;
  avg.op = ReduceOp::kAvg;
  ASSERT_TRUE((*b)->AllReduce(d, n, DType::kF32, avg)->Wait(30s).ok());
  ASSERT_TRUE((*b)->AllGather(d, d + n, n, DType::kF32)->Wait(30s).ok());
  ASSERT_TRUE((*b)->Broadcast(d, n, DType::kF32, 0)->Wait(30s).ok());
  ASSERT_TRUE((*b)->Barrier()->Wait(30s).ok());
  std::vector<float> back(2 * n);
  ASSERT_EQ(cudaMemcpy(back.data(), d, 2 * n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (int i = 0; i < n; i += 37) {
    EXPECT_EQ(back[i], h[i]);
    EXPECT_EQ(back[n + i], h[i]);
  }
  // bf16 is supported by NCCL.
  ASSERT_TRUE((*b)->AllReduce(d, n / 2, DType::kBF16)->Wait(30s).ok());
  auto sub = (*b)->Split(0, 0);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ((*sub)->size(), 1);
  auto ops = (*b)->recorder().Snapshot();
  ASSERT_GE(ops.size(), 5u);
  EXPECT_EQ(ops[0].op, "allreduce");
  EXPECT_EQ(ops[0].state, OpState::kCompleted);
  cudaFree(d);
}

// The out-of-place and in-place forms (backend.h) pass straight to NCCL: with one rank each is
// a copy or a no-op, which shows the pointers are the ones NCCL defines.
TEST(NcclBackend, BothPlacementsOnDeviceBuffers) {
  auto b = CreateNcclBackend(MakeMemoryStore(), 0, 1);
  ASSERT_TRUE(b.ok()) << b.status();
  const int n = 513;
  float *in = nullptr, *out = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&in), n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&out), n * sizeof(float)), cudaSuccess);
  std::vector<float> h(n), back(n);
  for (int i = 0; i < n; ++i) h[i] = i - 200.0f;
  auto expect_out = [&](const char* what) {
    ASSERT_EQ(cudaMemcpy(back.data(), out, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(back, h) << what;
    ASSERT_EQ(cudaMemset(out, 0, n * sizeof(float)), cudaSuccess);
  };
  ASSERT_EQ(cudaMemcpy(in, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(out, 0, n * sizeof(float)), cudaSuccess);
  ASSERT_TRUE((*b)->AllReduce(in, out, n, DType::kF32)->Wait(30s).ok());
  expect_out("out-of-place allreduce");
  ASSERT_TRUE((*b)->Broadcast(in, out, n, DType::kF32, 0)->Wait(30s).ok());
  expect_out("out-of-place broadcast");
  ASSERT_TRUE((*b)->AllGather(in, out, n, DType::kF32)->Wait(30s).ok());
  expect_out("out-of-place allgather");
  ASSERT_TRUE((*b)->ReduceScatter(in, out, n, DType::kF32)->Wait(30s).ok());
  expect_out("out-of-place reducescatter");
  // In place (rank 0 of 1: the block is the whole buffer), and the input left as it was.
  ASSERT_TRUE((*b)->AllGather(in, in, n, DType::kF32)->Wait(30s).ok());
  ASSERT_TRUE((*b)->ReduceScatter(in, in, n, DType::kF32)->Wait(30s).ok());
  ASSERT_EQ(cudaMemcpy(back.data(), in, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, h) << "in-place allgather / reducescatter";
  cudaFree(in);
  cudaFree(out);
}

}  // namespace
}  // namespace mt::comm
