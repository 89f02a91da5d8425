// The whole GPT's backward against finite differences of its loss: every parameter tensor
// (embeddings through the tied head, attention with its causal mask, MLP, LayerNorms).
#include <vector>

#include "gtest/gtest.h"
#include "runtime/nn/gpt.h"
#include "tests/support/grad_check.h"

namespace mt::nn {
namespace {

GptConfig TinyConfig() {
  GptConfig c;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 8;
  c.d_ff = 32;
  c.seq_len = 6;
  c.vocab_size = 11;
  return c;
}

struct Batch {
  std::vector<int32_t> tokens = {1, 4, 7, 2, 9, 3, 5, 5, 0, 10, 2, 8};
  std::vector<int32_t> targets = {4, 7, 2, -1, 3, 1, 5, 0, 10, 2, 8, 6};  // one ignored
};

TEST(GptGradients, EveryParameterMatchesFiniteDifferences) {
  auto model = Gpt::Create(TinyConfig(), 7);
  ASSERT_TRUE(model.ok());
  Gpt& m = **model;
  // Larger weights than the 0.02 init so every path carries a visible gradient.
  for (Parameter* p : m.Parameters()) {
    auto noise = mt::testing::RandomVector(p->value.numel(), p->value.numel(), 0.3f);
    for (int64_t i = 0; i < p->value.numel(); ++i) p->value.Data<float>()[i] += noise[i];
  }
  Batch b;
  m.ZeroGrad();
  const float loss = m.Forward(b.tokens.data(), b.targets.data(), 2, 6);
  EXPECT_EQ(m.counted(), 11);
  EXPECT_GT(loss, 0.0f);
  m.Backward(1.0f);
  for (Parameter* p : m.Parameters()) {
    std::vector<float> value(p->value.Data<float>(), p->value.Data<float>() + p->value.numel());
    std::vector<float> grad(p->grad.Data<float>(), p->grad.Data<float>() + p->grad.numel());
    auto loss_fn = [&] {
      std::copy(value.begin(), value.end(), p->value.Data<float>());
      return double(m.Forward(b.tokens.data(), b.targets.data(), 2, 6));
    };
    mt::testing::ExpectGradMatches(p->name, value, grad, loss_fn,
                                   {.eps = 1e-2f, .atol = 2e-4, .rtol = 3e-2});
    std::copy(value.begin(), value.end(), p->value.Data<float>());
  }
}

TEST(GptGradients, LossScaleAndAccumulationAreLinear) {
  auto model = Gpt::Create(TinyConfig(), 3);
  ASSERT_TRUE(model.ok());
  Gpt& m = **model;
  Batch b;
  m.ZeroGrad();
  m.Forward(b.tokens.data(), b.targets.data(), 2, 6);
  m.Backward(1.0f);
  std::vector<float> once(m.Parameters()[0]->grad.Data<float>(),
                          m.Parameters()[0]->grad.Data<float>() + 20);
  m.ZeroGrad();
  for (int i = 0; i < 2; ++i) {
    m.Forward(b.tokens.data(), b.targets.data(), 2, 6);
    m.Backward(0.5f);
  }
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(m.Parameters()[0]->grad.Data<float>()[i], once[i], 1e-7);
}

TEST(GptModel, NamesAndPartitionsFollowGpt2) {
  auto model = Gpt::Create(TinyConfig(), 1);
  ASSERT_TRUE(model.ok());
  auto params = (*model)->Parameters();
  ASSERT_EQ(params.size(), 2u + 12u * 2 + 2u);
  EXPECT_EQ(params[0]->name, "wte.weight");
  EXPECT_EQ(params[0]->partition.dim, 0);  // vocab-parallel
  EXPECT_EQ(params[4]->name, "h.0.attn.c_attn.weight");
  EXPECT_EQ(params[4]->partition.dim, 0);
  EXPECT_EQ(params[4]->partition.groups, 3);
  EXPECT_EQ(params[6]->name, "h.0.attn.c_proj.weight");
  EXPECT_EQ(params[6]->partition.dim, 1);          // row-parallel
  EXPECT_TRUE(params[7]->partition.replicated());  // its bias is added after the all-reduce
  EXPECT_EQ(params.back()->name, "ln_f.bias");
  // 2 layers x (4*64+4*8 + 2*8*32+32+8 + 4*8) + 11*8 + 6*8 + 2*8
  EXPECT_EQ(CountElements([&] {
              std::vector<Parameter> copy;
              for (Parameter* p : params) copy.push_back(*p);
              return copy;
            }()),
            2 * (288 + 552 + 32) + 88 + 48 + 16);
}

TEST(GptModel, InitialisationIsDeterministicPerSeed) {
  auto a = Gpt::Create(TinyConfig(), 5), b = Gpt::Create(TinyConfig(), 5),
       c = Gpt::Create(TinyConfig(), 6);
  const float* wa = (*a)->Parameters()[4]->value.Data<float>();
  const float* wb = (*b)->Parameters()[4]->value.Data<float>();
  const float* wc = (*c)->Parameters()[4]->value.Data<float>();
  EXPECT_EQ(std::vector<float>(wa, wa + 16), std::vector<float>(wb, wb + 16));
  EXPECT_NE(std::vector<float>(wa, wa + 16), std::vector<float>(wc, wc + 16));
}

TEST(GptModel, RejectsInvalidConfig) {
  GptConfig c = TinyConfig();
  c.d_model = 9;  // not divisible by n_head
  EXPECT_EQ(Gpt::Create(c, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mt::nn
