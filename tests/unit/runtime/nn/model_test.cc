// The model interface (runtime/nn/model.h) and the families (models.h): what the engine relies
// on without naming the GPT.
#include "runtime/nn/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "runtime/nn/models.h"

namespace mt::nn {
namespace {

meshtrain::v1::ModelSpec Spec() { return SpecOf({3, 2, 16, 8, 32}); }

TEST(CreateModel, MakesTheJobsFamilyWithItsSizes) {
  auto m = CreateModel(Spec(), 5);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_STREQ((*m)->family(), "gpt");
  EXPECT_EQ((*m)->dims().n_layer, 3);
  EXPECT_EQ((*m)->dims().d_model, 16);
  EXPECT_EQ((*m)->dims().seq_len, 8);
  EXPECT_EQ((*m)->dims().vocab_size, 32);
}

TEST(CreateModel, RefusesAnUnknownFamilyNamingTheField) {
  meshtrain::v1::ModelSpec s = Spec();
  s.set_arch("mamba");
  auto m = CreateModel(s, 5);
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), ::testing::HasSubstr("model.arch: 'mamba'"));
}

TEST(Model, EveryParameterHasALayerAndForeignNamesNone) {
  auto m = *CreateModel(Spec(), 5);
  for (Parameter* p : m->Parameters()) {
    auto layer = m->LayerOfParameter(p->name);
    ASSERT_TRUE(layer.has_value()) << p->name;
    EXPECT_GE(*layer, -1);
    EXPECT_LE(*layer, 3);
  }
  EXPECT_EQ(m->LayerOfParameter("wte.weight"), -1);
  EXPECT_EQ(m->LayerOfParameter("ln_f.bias"), 3);
  EXPECT_EQ(m->LayerOfParameter("h.2.attn.c_attn.weight").value_or(-9), 2);
  EXPECT_FALSE(m->IsParameterName("h.3.attn.c_attn.weight"));  // no fourth block
  EXPECT_FALSE(m->IsParameterName("lm_head.weight"));
}

TEST(Model, NewWholeIsTheSameModelFromTheSameSeed) {
  auto m = *CreateModel(Spec(), 5);
  auto twin = m->NewWhole(5);
  ASSERT_TRUE(twin.ok()) << twin.status();
  const auto a = m->Parameters(), b = (*twin)->Parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->name, b[i]->name);
    ASSERT_EQ(a[i]->value.numel(), b[i]->value.numel());
    for (int64_t k = 0; k < a[i]->value.numel(); ++k) {
      ASSERT_EQ(a[i]->value.Data<float>()[k], b[i]->value.Data<float>()[k]) << a[i]->name;
    }
  }
}

TEST(Model, NextTokenLogitsAreTheLastPositionsLogits) {
  auto m = *CreateModel(Spec(), 5);
  std::vector<int32_t> context = {3, 1, 4, 1, 5};
  const std::vector<float> next = m->NextTokenLogits(context.data(), 5);
  ASSERT_EQ(next.size(), 32u);
  m->Forward(context.data(), nullptr, 1, 5);
  for (int v = 0; v < 32; ++v) EXPECT_EQ(next[v], m->logits()[4 * 32 + v]);
  // Causal: the logits after "3 1 4" do not depend on what follows.
  const std::vector<float> shorter = m->NextTokenLogits(context.data(), 3);
  m->Forward(context.data(), nullptr, 1, 5);
  for (int v = 0; v < 32; ++v) EXPECT_NEAR(shorter[v], m->logits()[2 * 32 + v], 1e-5);
}

}  // namespace
}  // namespace mt::nn
