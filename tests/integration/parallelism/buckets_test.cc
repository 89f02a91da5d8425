// Data-parallel gradient buckets over Gloo (ranks as threads): for 2, 3 and 4 ranks, each with
// its own batch, the bucketed, overlapped average equals the average of the gradients each
// rank computes alone (to fp32 rounding), the loss is averaged with them, several buckets are
// used, micro-batches before the last do not communicate, and a batch without targets still
// completes the step.
#include "parallelism/data_parallel/buckets.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "fmt/format.h"
#include "runtime/comm/factory.h"
#include "runtime/comm/store.h"
#include "runtime/kernels/cpu/gemm.h"
#include "runtime/nn/models.h"

namespace mt::dp {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kBatch = 4, kSeq = 8;
const meshtrain::v1::ModelSpec kModel = nn::SpecOf({2, 2, 32, kSeq, 64});

// Rank r's micro-batch mb: tokens and targets from a seed, all targets ignored if `none`.
void MakeBatch(int r, int mb, std::vector<int32_t>& tokens, std::vector<int32_t>& targets,
               bool none = false) {
  std::mt19937 rng(1000 * r + mb);
  tokens.resize(kBatch * kSeq);
  targets.resize(kBatch * kSeq);
  for (int64_t i = 0; i < kBatch * kSeq; ++i) {
    tokens[i] = rng() % 64;
    targets[i] = none ? -1 : static_cast<int32_t>(rng() % 64);
  }
}

// One rank's gradients and loss for `micro` micro-batches, alone.
std::pair<std::vector<std::vector<float>>, double> Alone(int r, int micro) {
  auto model = *nn::CreateModel(kModel, 7);
  model->ZeroGrad();
  double loss = 0;
  std::vector<int32_t> tokens, targets;
  for (int mb = 0; mb < micro; ++mb) {
    MakeBatch(r, mb, tokens, targets);
    loss += model->Forward(tokens.data(), targets.data(), kBatch, kSeq) / micro;
    model->Backward(1.0f / micro);
  }
  std::vector<std::vector<float>> grads;
  for (nn::Parameter* p : model->Parameters()) {
    grads.emplace_back(p->grad.Data<float>(), p->grad.Data<float>() + p->grad.numel());
  }
  return {grads, loss};
}

void CheckWorld(int world, int micro) {
  // The expected average, from each rank alone.
  std::vector<std::vector<float>> want;
  double want_loss = 0;
  for (int r = 0; r < world; ++r) {
    auto [grads, loss] = Alone(r, micro);
    want_loss += loss / world;
    if (want.empty()) want.assign(grads.size(), {});
    for (size_t i = 0; i < grads.size(); ++i) {
      want[i].resize(grads[i].size(), 0.0f);
      for (size_t k = 0; k < grads[i].size(); ++k) want[i][k] += grads[i][k] / world;
    }
  }
  static std::atomic<int> group{0};
  auto store = comm::MakePrefixStore(fmt::format("b{}", group++), comm::MakeMemoryStore());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      auto backend = comm::CreateBackend("gloo", store, r, world);
      ASSERT_TRUE(backend.ok()) << backend.status();
      auto model = *nn::CreateModel(kModel, 7);
      GradBuckets buckets(model->Parameters(), 16 << 10, **backend);  // 16 KiB: many buckets
      EXPECT_GE(buckets.size(), 3);
      model->ZeroGrad();
      std::vector<int32_t> tokens, targets;
      double loss = 0;
      for (int mb = 0; mb < micro; ++mb) {
        MakeBatch(r, mb, tokens, targets);
        loss += model->Forward(tokens.data(), targets.data(), kBatch, kSeq) / micro;
        if (mb + 1 == micro) buckets.Begin(loss);
        // Only the last micro-batch's backward communicates.
        model->Backward(1.0f / micro, mb + 1 == micro ? buckets.Hook() : nn::GradsReady{});
      }
      auto mean = buckets.Finish();
      ASSERT_TRUE(mean.ok()) << mean.status();
      EXPECT_NEAR(*mean, want_loss, 1e-6 * std::fabs(want_loss));
      const auto params = model->Parameters();
      for (size_t i = 0; i < params.size(); ++i) {
        const float* g = params[i]->grad.Data<float>();
        for (int64_t k = 0; k < params[i]->grad.numel(); ++k) {
          ASSERT_NEAR(g[k], want[i][k], 1e-6f + 1e-5f * std::fabs(want[i][k]))
              << params[i]->name << "[" << k << "] on rank " << r << " of " << world;
        }
      }
      // A step whose batch has no counted target: backward reports nothing, Finish still ends it.
      model->ZeroGrad();
      MakeBatch(r, 0, tokens, targets, /*none=*/true);
      buckets.Begin(model->Forward(tokens.data(), targets.data(), kBatch, kSeq));
      model->Backward(1.0f, buckets.Hook());
      EXPECT_TRUE(buckets.Finish().ok());
      ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), world);
}

TEST(GradBuckets, EqualTheAverageOfEachRankAlone) {
  cpu::SetCpuThreads(1);  // ranks are threads here
  for (int world : {2, 3, 4}) CheckWorld(world, 1);
}

TEST(GradBuckets, AccumulateMicroBatchesThenCommunicateOnce) {
  cpu::SetCpuThreads(1);
  CheckWorld(2, 3);
}

}  // namespace
}  // namespace mt::dp
