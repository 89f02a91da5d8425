// The CUDA GPT against the CPU GPT (itself checked against finite differences and PyTorch):
// with fp32 GEMMs the loss and every gradient agree to rounding; with bf16 GEMMs the loss
// agrees to bf16's precision and every gradient points the same way; and training on the
// device lowers the loss. Label gpu: skipped without a device.
#include "runtime/nn/cuda/cuda_gpt.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace mt::nn::cuda {
namespace {

GptConfig SmallConfig() {
  GptConfig c;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 64;
  c.d_ff = 256;
  c.seq_len = 16;
  c.vocab_size = 96;
  return c;
}

struct Batch {
  int64_t batch = 3, seq = 16;
  std::vector<int32_t> tokens, targets;
  Batch() {
    std::mt19937 gen(5);
    std::uniform_int_distribution<int32_t> tok(0, 95);
    for (int64_t i = 0; i < batch * seq; ++i) {
      tokens.push_back(tok(gen));
      targets.push_back(i % 7 == 3 ? -1 : tok(gen));  // some positions not counted
    }
  }
};

// The CPU model's loss and gradients for the batch.
float CpuLossAndGrads(Gpt& model, const Batch& b) {
  model.ZeroGrad();
  const float loss = model.Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  model.Backward(1.0f);
  return loss;
}

struct Compared {
  double worst_rel = 0;  // max |gpu - cpu| / max |cpu|, per parameter
  double worst_cos = 1;  // lowest cosine similarity of gpu and cpu gradients, per parameter
  std::string worst_rel_name, worst_cos_name;
};

Compared CompareGrads(Gpt& cpu, Gpt& gpu_copy) {
  Compared r;
  const auto a = cpu.Parameters(), b = gpu_copy.Parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    const float* x = a[i]->grad.Data<float>();
    const float* y = b[i]->grad.Data<float>();
    double max_x = 0, max_d = 0, dot = 0, nx = 0, ny = 0;
    for (int64_t j = 0; j < a[i]->grad.numel(); ++j) {
      max_x = std::max(max_x, std::fabs(double(x[j])));
      max_d = std::max(max_d, std::fabs(double(x[j]) - y[j]));
      dot += double(x[j]) * y[j];
      nx += double(x[j]) * x[j];
      ny += double(y[j]) * y[j];
    }
    const double rel = max_x > 0 ? max_d / max_x : max_d;
    const double cos = nx > 0 && ny > 0 ? dot / std::sqrt(nx * ny) : 1.0;
    if (rel > r.worst_rel) r = {rel, r.worst_cos, a[i]->name, r.worst_cos_name};
    if (cos < r.worst_cos) r = {r.worst_rel, cos, r.worst_rel_name, a[i]->name};
  }
  return r;
}

std::unique_ptr<Gpt> Model() {
  auto m = Gpt::Create(SmallConfig(), 11);
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

TEST(CudaGpt, Fp32MatchesTheCpuModel) {
  Batch b;
  auto cpu = Model();
  const float want = CpuLossAndGrads(*cpu, b);
  auto gpu = CudaGpt::Create(*cpu, b.batch, b.seq, {.bf16 = false});
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  auto loss = (*gpu)->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_NEAR(*loss, want, 1e-5 * std::fabs(want));
  ASSERT_TRUE((*gpu)->Backward(1.0f).ok());
  auto copy = Model();
  ASSERT_TRUE((*gpu)->CopyTo(*copy, true).ok());
  const Compared c = CompareGrads(*cpu, *copy);
  EXPECT_LT(c.worst_rel, 1e-4) << c.worst_rel_name;
  auto norm = (*gpu)->GradNormSquared();
  ASSERT_TRUE(norm.ok());
  double want_norm = 0;
  for (Parameter* p : cpu->Parameters()) {
    for (int64_t j = 0; j < p->grad.numel(); ++j)
      want_norm += double(p->grad.Data<float>()[j]) * p->grad.Data<float>()[j];
  }
  EXPECT_NEAR(*norm, want_norm, 1e-4 * want_norm);
}

TEST(CudaGpt, Bf16AgreesWithTheCpuModelToBf16Precision) {
  Batch b;
  auto cpu = Model();
  const float want = CpuLossAndGrads(*cpu, b);
  auto gpu = CudaGpt::Create(*cpu, b.batch, b.seq);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  auto loss = (*gpu)->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_NEAR(*loss, want, 1e-2 * std::fabs(want));
  ASSERT_TRUE((*gpu)->Backward(1.0f).ok());
  auto copy = Model();
  ASSERT_TRUE((*gpu)->CopyTo(*copy, true).ok());
  const Compared c = CompareGrads(*cpu, *copy);
  EXPECT_GT(c.worst_cos, 0.99) << c.worst_cos_name;
}

TEST(CudaGpt, TrainingOnTheDeviceLowersTheLoss) {
  Batch b;
  auto cpu = Model();
  auto gpu = CudaGpt::Create(*cpu, b.batch, b.seq);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  float first = 0, last = 0;
  for (int step = 1; step <= 40; ++step) {
    ASSERT_TRUE((*gpu)->ZeroGrad().ok());
    auto loss = (*gpu)->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq);
    ASSERT_TRUE(loss.ok()) << loss.status();
    ASSERT_TRUE(std::isfinite(*loss)) << "step " << step;
    if (step == 1) first = *loss;
    last = *loss;
    ASSERT_TRUE((*gpu)->Backward(1.0f).ok());
    auto norm = (*gpu)->GradNormSquared();
    ASSERT_TRUE(norm.ok());
    const float scale = std::min(1.0, 1.0 / std::sqrt(*norm));
    ASSERT_TRUE((*gpu)
                    ->Update({.lr = 3e-3f, .weight_decay = 0.1f, .step = step, .grad_scale = scale})
                    .ok());
  }
  EXPECT_LT(last, 0.5f * first) << "first " << first << " last " << last;
}

TEST(CudaGpt, BadInputIsAClearError) {
  Batch b;
  auto cpu = Model();
  auto gpu = CudaGpt::Create(*cpu, b.batch, b.seq);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ((*gpu)->Forward(b.tokens.data(), b.targets.data(), b.batch + 1, b.seq).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> bad = b.tokens;
  bad[5] = 96;  // == vocab_size
  EXPECT_EQ((*gpu)->Forward(bad.data(), b.targets.data(), b.batch, b.seq).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CudaGpt::Create(*cpu, 1, 17).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mt::nn::cuda
