// Transformer block (see block.h).
#include "runtime/nn/block.h"

#include <cmath>
#include <cstring>

#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/gelu.h"
#include "runtime/kernels/cpu/layernorm.h"
#include "runtime/kernels/cpu/linear.h"

namespace mt::nn {
namespace {

constexpr float kInitStd = 0.02f;

void Fill(Tensor& t, float v) {
  float* d = t.Data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = v;
}

}  // namespace

Parameter MakeParameter(const std::string& name, Shape shape, PartitionSpec partition,
                        bool weight_decay) {
  Parameter p;
  p.name = name;
  p.value = Tensor::Zeros(shape);
  p.grad = Tensor::Zeros(shape);
  p.partition = partition;
  p.weight_decay = weight_decay;
  return p;
}

void BlockActivations::Resize(const BlockShape& s, int64_t b, int64_t t) {
  batch = b;
  seq = t;
  const int64_t rows = b * t, c = s.d_model, hc = s.heads * s.head_size;
  for (Tensor* x : {&ln1, &x1, &ln2}) EnsureCapacity(*x, {rows, c});
  for (Tensor* x : {&ln1_mean, &ln1_rstd, &ln2_mean, &ln2_rstd}) EnsureCapacity(*x, {rows});
  EnsureCapacity(qkv, {rows, 3 * hc});
  EnsureCapacity(att, {b, s.heads, t, t});
  EnsureCapacity(atty, {rows, hc});
  EnsureCapacity(fc, {rows, s.d_ff});
  EnsureCapacity(fc_gelu, {rows, s.d_ff});
}

void BlockScratch::Resize(const BlockShape& s, int64_t rows) {
  const int64_t c = s.d_model, hc = s.heads * s.head_size;
  for (Tensor* x : {&dx1, &dln2, &dln1}) EnsureCapacity(*x, {rows, c});
  EnsureCapacity(dfc, {rows, s.d_ff});
  EnsureCapacity(dfc_gelu, {rows, s.d_ff});
  EnsureCapacity(datty, {rows, hc});
  EnsureCapacity(dqkv, {rows, 3 * hc});
}

Block::Block(const BlockShape& s, const std::string& prefix, uint64_t seed, int n_layer)
    : shape_(s) {
  const int64_t c = s.d_model, hc = s.heads * s.head_size, f = s.d_ff;
  ln1_w_ = MakeParameter(prefix + ".ln_1.weight", {c}, {}, false);
  ln1_b_ = MakeParameter(prefix + ".ln_1.bias", {c}, {}, false);
  qkv_w_ = MakeParameter(prefix + ".attn.c_attn.weight", {3 * hc, c}, {0, 3}, true);
  qkv_b_ = MakeParameter(prefix + ".attn.c_attn.bias", {3 * hc}, {0, 3}, false);
  proj_w_ = MakeParameter(prefix + ".attn.c_proj.weight", {c, hc}, {1, 1}, true);
  proj_b_ = MakeParameter(prefix + ".attn.c_proj.bias", {c}, {}, false);
  ln2_w_ = MakeParameter(prefix + ".ln_2.weight", {c}, {}, false);
  ln2_b_ = MakeParameter(prefix + ".ln_2.bias", {c}, {}, false);
  fc_w_ = MakeParameter(prefix + ".mlp.c_fc.weight", {f, c}, {0, 1}, true);
  fc_b_ = MakeParameter(prefix + ".mlp.c_fc.bias", {f}, {0, 1}, false);
  fcproj_w_ = MakeParameter(prefix + ".mlp.c_proj.weight", {c, f}, {1, 1}, true);
  fcproj_b_ = MakeParameter(prefix + ".mlp.c_proj.bias", {c}, {}, false);
  Fill(ln1_w_.value, 1.0f);
  Fill(ln2_w_.value, 1.0f);
  // GPT-2: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer).
  const float residual_std = kInitStd / std::sqrt(2.0f * n_layer);
  FillNormal(qkv_w_, seed, kInitStd);
  FillNormal(fc_w_, seed, kInitStd);
  FillNormal(proj_w_, seed, residual_std);
  FillNormal(fcproj_w_, seed, residual_std);
}

std::vector<Parameter*> Block::Parameters() {
  return {&ln1_w_, &ln1_b_, &qkv_w_, &qkv_b_, &proj_w_,   &proj_b_,
          &ln2_w_, &ln2_b_, &fc_w_,  &fc_b_,  &fcproj_w_, &fcproj_b_};
}

void Block::Forward(const float* x, float* y, BlockActivations& a) const {
  const BlockShape& s = shape_;
  const int64_t rows = a.batch * a.seq, c = s.d_model, hc = s.heads * s.head_size;
  using namespace mt::cpu;
  LayerNormForward(a.ln1.Data<float>(), a.ln1_mean.Data<float>(), a.ln1_rstd.Data<float>(), x,
                   ln1_w_.value.Data<float>(), ln1_b_.value.Data<float>(), rows, c);
  LinearForward(a.qkv.Data<float>(), a.ln1.Data<float>(), qkv_w_.value.Data<float>(),
                qkv_b_.value.Data<float>(), rows, c, 3 * hc);
  AttentionForward(a.atty.Data<float>(), a.att.Data<float>(), a.qkv.Data<float>(), a.batch, a.seq,
                   s.heads, s.head_size);
  float* x1 = a.x1.Data<float>();
  LinearForward(x1, a.atty.Data<float>(), proj_w_.value.Data<float>(), proj_b_.value.Data<float>(),
                rows, hc, c);
  for (int64_t i = 0; i < rows * c; ++i) x1[i] += x[i];
  LayerNormForward(a.ln2.Data<float>(), a.ln2_mean.Data<float>(), a.ln2_rstd.Data<float>(), x1,
                   ln2_w_.value.Data<float>(), ln2_b_.value.Data<float>(), rows, c);
  LinearForward(a.fc.Data<float>(), a.ln2.Data<float>(), fc_w_.value.Data<float>(),
                fc_b_.value.Data<float>(), rows, c, s.d_ff);
  GeluForward(a.fc_gelu.Data<float>(), a.fc.Data<float>(), rows * s.d_ff);
  LinearForward(y, a.fc_gelu.Data<float>(), fcproj_w_.value.Data<float>(),
                fcproj_b_.value.Data<float>(), rows, s.d_ff, c);
  for (int64_t i = 0; i < rows * c; ++i) y[i] += x1[i];
}

void Block::Backward(const float* x, const float* dy, float* dx, const BlockActivations& a,
                     BlockScratch& g) {
  const BlockShape& s = shape_;
  const int64_t rows = a.batch * a.seq, c = s.d_model, hc = s.heads * s.head_size;
  g.Resize(s, rows);
  for (Tensor* t : {&g.dx1, &g.dln2, &g.dfc, &g.dfc_gelu, &g.datty, &g.dqkv, &g.dln1}) ZeroFill(*t);
  using namespace mt::cpu;
  // MLP half: y = x1 + fc_proj(gelu(fc(ln_2(x1))))
  float* dx1 = g.dx1.Data<float>();
  std::memcpy(dx1, dy, rows * c * sizeof(float));
  LinearBackward(g.dfc_gelu.Data<float>(), fcproj_w_.grad.Data<float>(),
                 fcproj_b_.grad.Data<float>(), dy, a.fc_gelu.Data<float>(),
                 fcproj_w_.value.Data<float>(), rows, s.d_ff, c);
  GeluBackward(g.dfc.Data<float>(), a.fc.Data<float>(), g.dfc_gelu.Data<float>(), rows * s.d_ff);
  LinearBackward(g.dln2.Data<float>(), fc_w_.grad.Data<float>(), fc_b_.grad.Data<float>(),
                 g.dfc.Data<float>(), a.ln2.Data<float>(), fc_w_.value.Data<float>(), rows, c,
                 s.d_ff);
  LayerNormBackward(dx1, ln2_w_.grad.Data<float>(), ln2_b_.grad.Data<float>(), g.dln2.Data<float>(),
                    a.x1.Data<float>(), ln2_w_.value.Data<float>(), a.ln2_mean.Data<float>(),
                    a.ln2_rstd.Data<float>(), rows, c);
  // Attention half: x1 = x + proj(attention(qkv(ln_1(x))))
  for (int64_t i = 0; i < rows * c; ++i) dx[i] += dx1[i];
  LinearBackward(g.datty.Data<float>(), proj_w_.grad.Data<float>(), proj_b_.grad.Data<float>(), dx1,
                 a.atty.Data<float>(), proj_w_.value.Data<float>(), rows, hc, c);
  AttentionBackward(g.dqkv.Data<float>(), g.datty.Data<float>(), a.qkv.Data<float>(),
                    a.att.Data<float>(), a.batch, a.seq, s.heads, s.head_size);
  LinearBackward(g.dln1.Data<float>(), qkv_w_.grad.Data<float>(), qkv_b_.grad.Data<float>(),
                 g.dqkv.Data<float>(), a.ln1.Data<float>(), qkv_w_.value.Data<float>(), rows, c,
                 3 * hc);
  LayerNormBackward(dx, ln1_w_.grad.Data<float>(), ln1_b_.grad.Data<float>(), g.dln1.Data<float>(),
                    x, ln1_w_.value.Data<float>(), a.ln1_mean.Data<float>(),
                    a.ln1_rstd.Data<float>(), rows, c);
}

}  // namespace mt::nn
