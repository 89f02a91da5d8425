// LR schedules and the AdamW optimizer over parameters: clipping and the non-finite guard.
#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "runtime/nn/block.h"
#include "runtime/optim/adamw.h"
#include "runtime/optim/schedule.h"

namespace mt::optim {
namespace {

TEST(LrSchedule, WarmupThenCosineToTheFloor) {
  LrSchedule s{1.0, 0.1, 10, 110, "cosine"};
  EXPECT_DOUBLE_EQ(s.At(0), 0.1);
  EXPECT_DOUBLE_EQ(s.At(9), 1.0);
  EXPECT_DOUBLE_EQ(s.At(10), 1.0);
  EXPECT_NEAR(s.At(10 + 99 / 2.0), 0.55, 0.01);
  EXPECT_DOUBLE_EQ(s.At(109), 0.1);
  for (int64_t i = 11; i < 110; ++i) EXPECT_LE(s.At(i), s.At(i - 1));
}

TEST(LrSchedule, LinearAndConstant) {
  LrSchedule lin{2.0, 0.0, 0, 11, "linear"};
  EXPECT_DOUBLE_EQ(lin.At(0), 2.0);
  EXPECT_DOUBLE_EQ(lin.At(5), 1.0);
  EXPECT_DOUBLE_EQ(lin.At(10), 0.0);
  LrSchedule c{0.5, 0.1, 2, 10, "constant"};
  EXPECT_DOUBLE_EQ(c.At(1), 0.5);
  EXPECT_DOUBLE_EQ(c.At(9), 0.5);
}

struct TwoParams {
  nn::Parameter a = nn::MakeParameter("a", {2}, {}, true);
  nn::Parameter b = nn::MakeParameter("b", {1}, {}, false);
  void SetGrads(float ga0, float ga1, float gb) {
    a.grad.Data<float>()[0] = ga0;
    a.grad.Data<float>()[1] = ga1;
    b.grad.Data<float>()[0] = gb;
  }
};

TEST(AdamWOptimizer, ClipsByTheGlobalNormAcrossParameters) {
  TwoParams p;
  AdamW opt({&p.a, &p.b}, AdamWConfig{.weight_decay = 0.0, .clip = 1.0});
  p.SetGrads(3.0f, 0.0f, 4.0f);
  StepStats s = opt.Step(0.1);
  EXPECT_DOUBLE_EQ(s.grad_norm, 5.0);
  EXPECT_DOUBLE_EQ(s.clip_scale, 0.2);
  // First Adam step moves each weight by lr * sign(g), whatever the clip scale.
  EXPECT_NEAR(p.a.value.Data<float>()[0], -0.1f, 1e-6);
  EXPECT_NEAR(p.a.value.Data<float>()[1], 0.0f, 1e-6);
  EXPECT_NEAR(p.b.value.Data<float>()[0], -0.1f, 1e-6);
  // The clip shows in the moments: m = (1 - beta1) * 0.2 * g.
  EXPECT_NEAR(opt.m()[1].Data<float>()[0], 0.1f * 0.2f * 4.0f, 1e-6);
  EXPECT_EQ(opt.step(), 1);
}

TEST(AdamWOptimizer, WeightDecayOnlyWhereDeclared) {
  TwoParams p;
  p.a.value.Data<float>()[1] = 1.0f;
  p.b.value.Data<float>()[0] = 1.0f;
  AdamW opt({&p.a, &p.b}, AdamWConfig{.weight_decay = 0.5, .clip = 0.0});
  p.SetGrads(0.0f, 0.0f, 0.0f);
  opt.Step(0.1);
  EXPECT_NEAR(p.a.value.Data<float>()[1], 1.0f - 0.1f * 0.5f, 1e-6);
  EXPECT_FLOAT_EQ(p.b.value.Data<float>()[0], 1.0f);
}

TEST(AdamWOptimizer, NonFiniteGradientChangesNothing) {
  TwoParams p;
  AdamW opt({&p.a, &p.b}, AdamWConfig{});
  p.SetGrads(1.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f);
  StepStats s = opt.Step(0.1);
  EXPECT_FALSE(s.finite);
  EXPECT_EQ(opt.step(), 0);
  EXPECT_EQ(p.a.value.Data<float>()[0], 0.0f);
  EXPECT_EQ(opt.m()[0].Data<float>()[0], 0.0f);
}

}  // namespace
}  // namespace mt::optim
