// GPT model (see gpt.h).
#include "runtime/nn/gpt.h"

#include <cstring>

#include "fmt/format.h"
#include "runtime/kernels/cpu/cross_entropy.h"
#include "runtime/kernels/cpu/embedding.h"
#include "runtime/kernels/cpu/layernorm.h"
#include "runtime/kernels/cpu/linear.h"

namespace mt::nn {

GptConfig GptConfig::FromSpec(const meshtrain::v1::ModelSpec& s) {
  GptConfig c;
  c.n_layer = s.n_layer();
  c.n_head = s.n_head();
  c.d_model = s.d_model();
  c.d_ff = s.d_ff() > 0 ? s.d_ff() : 4 * s.d_model();
  c.seq_len = s.seq_len();
  c.vocab_size = s.vocab_size();
  return c;
}

Gpt::Gpt(const GptConfig& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<Gpt>> Gpt::Create(const GptConfig& c, uint64_t seed) {
  if (c.n_layer <= 0 || c.n_head <= 0 || c.d_model <= 0 || c.d_model % c.n_head != 0 ||
      c.d_ff <= 0 || c.seq_len <= 0 || c.vocab_size <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "invalid GPT config: n_layer={} n_head={} d_model={} d_ff={} seq_len={} vocab_size={}",
        c.n_layer, c.n_head, c.d_model, c.d_ff, c.seq_len, c.vocab_size));
  }
  std::unique_ptr<Gpt> m(new Gpt(c));
  m->wte_ = MakeParameter("wte.weight", {c.vocab_size, c.d_model}, {0, 1}, false);
  m->wpe_ = MakeParameter("wpe.weight", {c.seq_len, c.d_model}, {}, false);
  m->lnf_w_ = MakeParameter("ln_f.weight", {c.d_model}, {}, false);
  m->lnf_b_ = MakeParameter("ln_f.bias", {c.d_model}, {}, false);
  FillNormal(m->wte_, seed, 0.02f);
  FillNormal(m->wpe_, seed, 0.01f);
  for (int64_t i = 0; i < c.d_model; ++i) m->lnf_w_.value.Data<float>()[i] = 1.0f;
  const BlockShape shape{c.d_model, c.n_head, c.d_model / c.n_head, c.d_ff};
  m->blocks_.reserve(c.n_layer);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    m->blocks_.emplace_back(shape, fmt::format("h.{}", l), seed, static_cast<int>(c.n_layer));
  }
  return m;
}

std::vector<Parameter*> Gpt::Parameters() {
  std::vector<Parameter*> out = {&wte_, &wpe_};
  for (Block& b : blocks_) {
    for (Parameter* p : b.Parameters()) out.push_back(p);
  }
  out.push_back(&lnf_w_);
  out.push_back(&lnf_b_);
  return out;
}

void Gpt::ZeroGrad() {
  for (Parameter* p : Parameters()) ZeroFill(p->grad);
}

void Gpt::Resize(int64_t batch, int64_t seq) {
  batch_ = batch;
  seq_ = seq;
  const int64_t rows = batch * seq, c = config_.d_model, v = config_.vocab_size;
  residual_.resize(config_.n_layer + 1);
  acts_.resize(config_.n_layer);
  for (Tensor& r : residual_) EnsureCapacity(r, {rows, c});
  for (int64_t l = 0; l < config_.n_layer; ++l) acts_[l].Resize(blocks_[l].shape(), batch, seq);
  for (Tensor* t : {&lnf_, &dlnf_, &dresidual_a_, &dresidual_b_}) EnsureCapacity(*t, {rows, c});
  for (Tensor* t : {&lnf_mean_, &lnf_rstd_, &losses_}) EnsureCapacity(*t, {rows});
  for (Tensor* t : {&logits_, &probs_, &dlogits_}) EnsureCapacity(*t, {rows, v});
}

float Gpt::Forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq) {
  MT_CHECK(seq > 0 && seq <= config_.seq_len && batch > 0);
  Resize(batch, seq);
  tokens_ = tokens;
  targets_ = targets;
  const int64_t rows = batch * seq, c = config_.d_model, v = config_.vocab_size;
  using namespace mt::cpu;
  EmbeddingForward(residual_[0].Data<float>(), tokens, wte_.value.Data<float>(),
                   wpe_.value.Data<float>(), batch, seq, c);
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    blocks_[l].Forward(residual_[l].Data<float>(), residual_[l + 1].Data<float>(), acts_[l]);
  }
  LayerNormForward(lnf_.Data<float>(), lnf_mean_.Data<float>(), lnf_rstd_.Data<float>(),
                   residual_.back().Data<float>(), lnf_w_.value.Data<float>(),
                   lnf_b_.value.Data<float>(), rows, c);
  LinearForward(logits_.Data<float>(), lnf_.Data<float>(), wte_.value.Data<float>(), nullptr, rows,
                c, v);
  if (targets == nullptr) return 0.0f;
  counted_ = CrossEntropyForward(losses_.Data<float>(), probs_.Data<float>(), logits_.Data<float>(),
                                 targets, rows, v);
  double sum = 0;
  for (int64_t r = 0; r < rows; ++r) sum += losses_.Data<float>()[r];
  return counted_ > 0 ? static_cast<float>(sum / counted_) : 0.0f;
}

void Gpt::Backward(float loss_scale, const GradsReady& ready) {
  MT_CHECK(targets_ != nullptr);
  const int64_t rows = batch_ * seq_, c = config_.d_model, v = config_.vocab_size;
  using namespace mt::cpu;
  for (Tensor* t : {&dlogits_, &dlnf_, &dresidual_a_}) ZeroFill(*t);
  if (counted_ == 0) return;
  CrossEntropyBackward(dlogits_.Data<float>(), probs_.Data<float>(), targets_,
                       loss_scale / static_cast<float>(counted_), rows, v);
  // Tied head: logits = ln_f(x) * wte^T, so wte gets gradient from here and the embedding.
  LinearBackward(dlnf_.Data<float>(), wte_.grad.Data<float>(), nullptr, dlogits_.Data<float>(),
                 lnf_.Data<float>(), wte_.value.Data<float>(), rows, c, v);
  LayerNormBackward(dresidual_a_.Data<float>(), lnf_w_.grad.Data<float>(),
                    lnf_b_.grad.Data<float>(), dlnf_.Data<float>(), residual_.back().Data<float>(),
                    lnf_w_.value.Data<float>(), lnf_mean_.Data<float>(), lnf_rstd_.Data<float>(),
                    rows, c);
  if (ready) ready({&lnf_w_, &lnf_b_});
  Tensor* dy = &dresidual_a_;
  Tensor* dx = &dresidual_b_;
  for (int64_t l = config_.n_layer - 1; l >= 0; --l) {
    ZeroFill(*dx);
    blocks_[l].Backward(residual_[l].Data<float>(), dy->Data<float>(), dx->Data<float>(), acts_[l],
                        scratch_);
    std::swap(dy, dx);
    if (ready) ready(blocks_[l].Parameters());
  }
  EmbeddingBackward(wte_.grad.Data<float>(), wpe_.grad.Data<float>(), dy->Data<float>(), tokens_,
                    batch_, seq_, c);
  if (ready) ready({&wpe_, &wte_});
}

}  // namespace mt::nn
