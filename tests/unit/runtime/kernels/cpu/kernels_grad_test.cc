// Every CPU kernel's backward against central finite differences of its forward, and the
// forward passes against direct reference computations.
#include <cmath>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/kernels/cpu/adamw.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/cross_entropy.h"
#include "runtime/kernels/cpu/embedding.h"
#include "runtime/kernels/cpu/gelu.h"
#include "runtime/kernels/cpu/layernorm.h"
#include "runtime/kernels/cpu/linear.h"
#include "tests/support/grad_check.h"

namespace mt::cpu {
namespace {

using mt::testing::Dot;
using mt::testing::ExpectGradMatches;
using mt::testing::RandomVector;

TEST(LinearKernel, ForwardMatchesDirectProduct) {
  const int64_t rows = 5, in = 7, out = 3;
  auto x = RandomVector(rows * in, 1), w = RandomVector(out * in, 2), b = RandomVector(out, 3);
  std::vector<float> y(rows * out);
  LinearForward(y.data(), x.data(), w.data(), b.data(), rows, in, out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double ref = b[o];
      for (int64_t i = 0; i < in; ++i) ref += double(x[r * in + i]) * w[o * in + i];
      EXPECT_NEAR(y[r * out + o], ref, 1e-5);
    }
  }
}

TEST(LinearKernel, BackwardMatchesFiniteDifferences) {
  const int64_t rows = 6, in = 5, out = 4;
  auto x = RandomVector(rows * in, 1), w = RandomVector(out * in, 2), b = RandomVector(out, 3);
  auto r = RandomVector(rows * out, 4);
  std::vector<float> y(rows * out), dx(x.size()), dw(w.size()), db(b.size());
  auto loss = [&] {
    LinearForward(y.data(), x.data(), w.data(), b.data(), rows, in, out);
    return Dot(y.data(), r);
  };
  loss();
  LinearBackward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), rows, in, out);
  ExpectGradMatches("linear dinp", x, dx, loss);
  ExpectGradMatches("linear dw", w, dw, loss);
  ExpectGradMatches("linear db", b, db, loss);
}

TEST(LayerNormKernel, BackwardMatchesFiniteDifferences) {
  const int64_t rows = 4, c = 16;
  auto x = RandomVector(rows * c, 5, 2.0f), w = RandomVector(c, 6), b = RandomVector(c, 7);
  auto r = RandomVector(rows * c, 8);
  std::vector<float> y(x.size()), mean(rows), rstd(rows), dx(x.size()), dw(c), db(c);
  auto loss = [&] {
    LayerNormForward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows, c);
    return Dot(y.data(), r);
  };
  loss();
  // Forward normalises: with w = 1, b = 0 each row has mean 0 and variance 1.
  std::vector<float> ones(c, 1.0f), zeros(c, 0.0f), yn(x.size());
  LayerNormForward(yn.data(), mean.data(), rstd.data(), x.data(), ones.data(), zeros.data(), rows,
                   c);
  double m = std::accumulate(yn.begin(), yn.begin() + c, 0.0) / c;
  EXPECT_NEAR(m, 0.0, 1e-5);
  loss();
  LayerNormBackward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), mean.data(),
                    rstd.data(), rows, c);
  ExpectGradMatches("layernorm dinp", x, dx, loss);
  ExpectGradMatches("layernorm dw", w, dw, loss);
  ExpectGradMatches("layernorm db", b, db, loss);
}

TEST(GeluKernel, ForwardAndBackward) {
  std::vector<float> x = {-3.0f, -1.0f, -0.1f, 0.0f, 0.5f, 2.0f};
  std::vector<float> y(x.size());
  GeluForward(y.data(), x.data(), x.size());
  EXPECT_NEAR(y[3], 0.0f, 1e-7);
  EXPECT_NEAR(y[5], 1.9545977f, 1e-5);  // torch.nn.functional.gelu(2.0, approximate="tanh")
  auto r = RandomVector(x.size(), 9);
  std::vector<float> dx(x.size());
  auto loss = [&] {
    GeluForward(y.data(), x.data(), x.size());
    return Dot(y.data(), r);
  };
  GeluBackward(dx.data(), x.data(), r.data(), x.size());
  ExpectGradMatches("gelu", x, dx, loss, {.eps = 1e-3f});
}

TEST(AttentionKernel, RowsAreCausalProbabilities) {
  const int64_t b = 2, t = 5, h = 2, hs = 3;
  auto qkv = RandomVector(b * t * 3 * h * hs, 10);
  std::vector<float> out(b * t * h * hs), att(b * h * t * t);
  AttentionForward(out.data(), att.data(), qkv.data(), b, t, h, hs);
  for (int64_t row = 0; row < b * h * t; ++row) {
    const int64_t pos = row % t;
    double sum = 0;
    for (int64_t j = 0; j < t; ++j) {
      if (j > pos) {
        EXPECT_EQ(att[row * t + j], 0.0f) << "future position visible";
      }
      sum += att[row * t + j];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  // Position 0 attends only to itself: its output is its own V.
  EXPECT_NEAR(out[0], qkv[2 * h * hs], 1e-6);
}

TEST(AttentionKernel, BackwardMatchesFiniteDifferences) {
  const int64_t b = 2, t = 4, h = 2, hs = 3;
  auto qkv = RandomVector(b * t * 3 * h * hs, 11);
  auto r = RandomVector(b * t * h * hs, 12);
  std::vector<float> out(r.size()), att(b * h * t * t), dqkv(qkv.size());
  auto loss = [&] {
    AttentionForward(out.data(), att.data(), qkv.data(), b, t, h, hs);
    return Dot(out.data(), r);
  };
  loss();
  AttentionBackward(dqkv.data(), r.data(), qkv.data(), att.data(), b, t, h, hs);
  ExpectGradMatches("attention dqkv", qkv, dqkv, loss, {.eps = 1e-2f, .atol = 2e-3});
}

TEST(EmbeddingKernel, BackwardScatterAddsRepeatedTokens) {
  const int64_t b = 2, t = 3, c = 4, vocab = 5;
  std::vector<int32_t> tokens = {1, 3, 1, 4, 1, 0};
  auto wte = RandomVector(vocab * c, 13), wpe = RandomVector(t * c, 14);
  auto r = RandomVector(b * t * c, 15);
  std::vector<float> out(b * t * c), dwte(wte.size()), dwpe(wpe.size());
  auto loss = [&] {
    EmbeddingForward(out.data(), tokens.data(), wte.data(), wpe.data(), b, t, c);
    return Dot(out.data(), r);
  };
  loss();
  EXPECT_FLOAT_EQ(out[c + 2], wte[3 * c + 2] + wpe[c + 2]);
  EmbeddingBackward(dwte.data(), dwpe.data(), r.data(), tokens.data(), b, t, c);
  ExpectGradMatches("embedding dwte", wte, dwte, loss);
  ExpectGradMatches("embedding dwpe", wpe, dwpe, loss);
}

TEST(CrossEntropyKernel, LossAndBackwardWithIgnoredTargets) {
  const int64_t rows = 4, vocab = 6;
  auto logits = RandomVector(rows * vocab, 16, 3.0f);
  std::vector<int32_t> targets = {2, -1, 5, 0};
  std::vector<float> losses(rows), probs(logits.size()), dlogits(logits.size());
  auto loss = [&] {
    CrossEntropyForward(losses.data(), probs.data(), logits.data(), targets.data(), rows, vocab);
    return std::accumulate(losses.begin(), losses.end(), 0.0);
  };
  EXPECT_EQ(
      CrossEntropyForward(losses.data(), probs.data(), logits.data(), targets.data(), rows, vocab),
      3);
  EXPECT_EQ(losses[1], 0.0f);
  double lse = 0;
  for (int v = 0; v < vocab; ++v) lse += std::exp(double(logits[v]));
  EXPECT_NEAR(losses[0], std::log(lse) - logits[2], 1e-5);
  CrossEntropyBackward(dlogits.data(), probs.data(), targets.data(), 1.0f, rows, vocab);
  for (int v = 0; v < vocab; ++v) EXPECT_EQ(dlogits[vocab + v], 0.0f);
  ExpectGradMatches("cross-entropy dlogits", logits, dlogits, loss, {.eps = 1e-3f});
}

TEST(AdamWKernel, MatchesTheClosedFormFirstStep) {
  // Step 1: mhat = g, vhat = g^2, so the update is lr * (sign(g) * |g|/(|g|+eps) + wd * p).
  std::vector<float> p = {1.0f, -2.0f}, g = {0.5f, -0.25f}, m(2), v(2);
  AdamWParams a{.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
  AdamWUpdate(p.data(), g.data(), m.data(), v.data(), 2, a);
  EXPECT_NEAR(p[0], 1.0f - 0.1f * (1.0f + 0.1f * 1.0f), 1e-6);
  EXPECT_NEAR(p[1], -2.0f - 0.1f * (-1.0f + 0.1f * -2.0f), 1e-6);
  EXPECT_NEAR(m[0], 0.05f, 1e-7);
  EXPECT_NEAR(v[1], 0.05f * 0.0625f, 1e-8);
  EXPECT_DOUBLE_EQ(SumSquares(g.data(), 2), 0.3125);
}

}  // namespace
}  // namespace mt::cpu
