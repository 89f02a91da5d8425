// Transformer block (see block.h).
#include "runtime/nn/block.h"

#include <cmath>
#include <cstring>

#include "runtime/core/status.h"
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

void AddBias(float* out, const float* bias, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) out[r * n + i] += bias[i];
  }
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

Block::Block(const BlockShape& s, const std::string& prefix, uint64_t seed, int n_layer,
             const Placement& placement)
    : shape_(s), tp_(placement.tp), group_(placement.group) {
  MT_CHECK(tp_ == 1 || group_ != nullptr);
  const int tp = placement.tp;
  const int64_t c = s.d_model, hc = s.heads * s.head_size, f = s.d_ff;
  const int64_t full_hc = hc * tp, full_f = f * tp;
  // Full shapes; each parameter holds its rank's slice.
  auto make = [&](Parameter& p, const char* name, Shape full, PartitionSpec spec, bool decay) {
    p = MakeParameter(prefix + name, LocalShape(full, spec, tp), spec, decay);
    return full;
  };
  make(ln1_w_, ".ln_1.weight", {c}, {}, false);
  make(ln1_b_, ".ln_1.bias", {c}, {}, false);
  const Shape qkv_full = make(qkv_w_, ".attn.c_attn.weight", {3 * full_hc, c}, {0, 3}, true);
  make(qkv_b_, ".attn.c_attn.bias", {3 * full_hc}, {0, 3}, false);
  const Shape proj_full = make(proj_w_, ".attn.c_proj.weight", {c, full_hc}, {1, 1}, true);
  make(proj_b_, ".attn.c_proj.bias", {c}, {}, false);
  make(ln2_w_, ".ln_2.weight", {c}, {}, false);
  make(ln2_b_, ".ln_2.bias", {c}, {}, false);
  const Shape fc_full = make(fc_w_, ".mlp.c_fc.weight", {full_f, c}, {0, 1}, true);
  make(fc_b_, ".mlp.c_fc.bias", {full_f}, {0, 1}, false);
  const Shape fcproj_full = make(fcproj_w_, ".mlp.c_proj.weight", {c, full_f}, {1, 1}, true);
  make(fcproj_b_, ".mlp.c_proj.bias", {c}, {}, false);
  Fill(ln1_w_.value, 1.0f);
  Fill(ln2_w_.value, 1.0f);
  // GPT-2: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer).
  const float residual_std = kInitStd / std::sqrt(2.0f * n_layer);
  const int rank = placement.tp_rank;
  FillNormalSlice(qkv_w_, qkv_full, seed, kInitStd, tp, rank);
  FillNormalSlice(fc_w_, fc_full, seed, kInitStd, tp, rank);
  FillNormalSlice(proj_w_, proj_full, seed, residual_std, tp, rank);
  FillNormalSlice(fcproj_w_, fcproj_full, seed, residual_std, tp, rank);
  const auto params = Parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    MT_CHECK(params[i]->name == prefix + ParameterSuffixes()[i]);  // the list stays in step
  }
}

// Row-parallel output: out holds this rank's partial sum; completes it and adds the bias.
void Block::FinishRowParallel(float* out, const Parameter& bias, int64_t rows) const {
  if (tp_ == 1) return;
  group_->AllReduceSum(out, rows * shape_.d_model);
  AddBias(out, bias.value.Data<float>(), rows, shape_.d_model);
}

// The gradient of a column-parallel layer's input: each rank has its heads' share.
void Block::SumInputGrad(float* d, int64_t rows) const {
  if (tp_ > 1) group_->AllReduceSum(d, rows * shape_.d_model);
}

const std::vector<std::string>& Block::ParameterSuffixes() {
  static const std::vector<std::string> kSuffixes = {
      ".ln_1.weight",        ".ln_1.bias",        ".attn.c_attn.weight", ".attn.c_attn.bias",
      ".attn.c_proj.weight", ".attn.c_proj.bias", ".ln_2.weight",        ".ln_2.bias",
      ".mlp.c_fc.weight",    ".mlp.c_fc.bias",    ".mlp.c_proj.weight",  ".mlp.c_proj.bias"};
  return kSuffixes;
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
  // Row-parallel: the bias goes in once, after the partial sums are added up.
  const bool whole = tp_ == 1;
  LinearForward(x1, a.atty.Data<float>(), proj_w_.value.Data<float>(),
                whole ? proj_b_.value.Data<float>() : nullptr, rows, hc, c);
  FinishRowParallel(x1, proj_b_, rows);
  for (int64_t i = 0; i < rows * c; ++i) x1[i] += x[i];
  LayerNormForward(a.ln2.Data<float>(), a.ln2_mean.Data<float>(), a.ln2_rstd.Data<float>(), x1,
                   ln2_w_.value.Data<float>(), ln2_b_.value.Data<float>(), rows, c);
  LinearForward(a.fc.Data<float>(), a.ln2.Data<float>(), fc_w_.value.Data<float>(),
                fc_b_.value.Data<float>(), rows, c, s.d_ff);
  GeluForward(a.fc_gelu.Data<float>(), a.fc.Data<float>(), rows * s.d_ff);
  LinearForward(y, a.fc_gelu.Data<float>(), fcproj_w_.value.Data<float>(),
                whole ? fcproj_b_.value.Data<float>() : nullptr, rows, s.d_ff, c);
  FinishRowParallel(y, fcproj_b_, rows);
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
  SumInputGrad(g.dln2.Data<float>(), rows);
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
  SumInputGrad(g.dln1.Data<float>(), rows);
  LayerNormBackward(dx, ln1_w_.grad.Data<float>(), ln1_b_.grad.Data<float>(), g.dln1.Data<float>(),
                    x, ln1_w_.value.Data<float>(), a.ln1_mean.Data<float>(),
                    a.ln1_rstd.Data<float>(), rows, c);
}

}  // namespace mt::nn
