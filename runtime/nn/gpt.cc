// GPT model (see gpt.h).
#include "runtime/nn/gpt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "fmt/format.h"
#include "runtime/core/status.h"
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

Gpt::Gpt(const GptConfig& config, Placement placement)
    : config_(config),
      dims_{config.n_layer, config.d_model, config.seq_len, config.vocab_size},
      placement_(std::move(placement)) {}

absl::StatusOr<std::unique_ptr<Model>> Gpt::NewWhole(uint64_t seed) const {
  MT_ASSIGN_OR_RETURN(std::unique_ptr<Gpt> whole, Create(config_, seed));
  return std::unique_ptr<Model>(std::move(whole));
}

namespace {

absl::Status CheckPlacement(const GptConfig& c, const Placement& p) {
  if (p.tp < 1 || p.tp_rank < 0 || p.tp_rank >= p.tp || (p.tp > 1 && p.group == nullptr)) {
    return absl::InvalidArgumentError(
        fmt::format("invalid tensor-parallel placement: rank {} of {}{}", p.tp_rank, p.tp,
                    p.tp > 1 && p.group == nullptr ? " without a group" : ""));
  }
  if (c.n_head % p.tp != 0 || c.d_ff % p.tp != 0 || c.vocab_size % p.tp != 0) {
    return absl::InvalidArgumentError(
        fmt::format("tp = {} must divide n_head ({}), d_ff ({}) and vocab_size ({})", p.tp,
                    c.n_head, c.d_ff, c.vocab_size));
  }
  for (const auto& [first, last] : p.chunks) {
    if (first < 0 || last > c.n_layer || first >= last) {
      return absl::InvalidArgumentError(fmt::format(
          "chunk layers [{}, {}) are not a range of the {} layers", first, last, c.n_layer));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gpt>> Gpt::Create(const GptConfig& c, uint64_t seed,
                                                 Placement placement) {
  if (c.n_layer <= 0 || c.n_head <= 0 || c.d_model <= 0 || c.d_model % c.n_head != 0 ||
      c.d_ff <= 0 || c.seq_len <= 0 || c.vocab_size <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "invalid GPT config: n_layer={} n_head={} d_model={} d_ff={} seq_len={} vocab_size={}",
        c.n_layer, c.n_head, c.d_model, c.d_ff, c.seq_len, c.vocab_size));
  }
  if (placement.chunks.empty()) placement.chunks = {{0, c.n_layer}};
  MT_RETURN_IF_ERROR(CheckPlacement(c, placement));
  std::unique_ptr<Gpt> m(new Gpt(c, placement));
  const int tp = placement.tp, rank = placement.tp_rank;
  for (const auto& [first, last] : placement.chunks) {
    Chunk chunk;
    chunk.first = first;
    chunk.last = last;
    chunk.embedding = first == 0;
    chunk.head = last == c.n_layer;
    chunk.block0 = m->blocks_.size();
    m->holds_wte_ |= chunk.embedding || chunk.head;
    m->holds_wpe_ |= chunk.embedding;
    m->holds_lnf_ |= chunk.head;
    const BlockShape shape{c.d_model, c.n_head / tp, c.d_model / c.n_head, c.d_ff / tp};
    for (int64_t l = first; l < last; ++l) {
      m->blocks_.emplace_back(shape, fmt::format("h.{}", l), seed, static_cast<int>(c.n_layer),
                              placement);
    }
    m->chunks_.push_back(std::move(chunk));
  }
  m->vocab_begin_ = rank * (c.vocab_size / tp);
  const PartitionSpec vocab_split{0, 1};
  m->wte_ = MakeParameter("wte.weight", LocalShape({c.vocab_size, c.d_model}, vocab_split, tp),
                          vocab_split, false);
  m->wpe_ = MakeParameter("wpe.weight", {c.seq_len, c.d_model}, {}, false);
  m->lnf_w_ = MakeParameter("ln_f.weight", {c.d_model}, {}, false);
  m->lnf_b_ = MakeParameter("ln_f.bias", {c.d_model}, {}, false);
  FillNormalSlice(m->wte_, {c.vocab_size, c.d_model}, seed, 0.02f, tp, rank);
  FillNormal(m->wpe_, seed, 0.01f);
  for (int64_t i = 0; i < c.d_model; ++i) m->lnf_w_.value.Data<float>()[i] = 1.0f;
  return m;
}

namespace {

// The layer of a parameter name of a GPT of `c` (see LayerOfParameter).
std::optional<int64_t> GptLayerOf(const GptConfig& c, const std::string& name) {
  if (name == "wte.weight" || name == "wpe.weight") return -1;
  if (name == "ln_f.weight" || name == "ln_f.bias") return c.n_layer;
  int64_t layer = -1;
  size_t used = 0;
  if (name.rfind("h.", 0) != 0) return std::nullopt;
  try {
    layer = std::stoll(name.substr(2), &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string suffix = name.substr(2 + used);
  const auto& known = Block::ParameterSuffixes();
  if (layer < 0 || layer >= c.n_layer) return std::nullopt;
  if (std::find(known.begin(), known.end(), suffix) == known.end()) return std::nullopt;
  return layer;
}

}  // namespace

bool Gpt::IsParameterName(const GptConfig& c, const std::string& name) {
  return GptLayerOf(c, name).has_value();
}

std::optional<int64_t> Gpt::LayerOfParameter(const std::string& name) const {
  return GptLayerOf(config_, name);
}

std::vector<Parameter*> Gpt::Parameters() {
  std::vector<Parameter*> out;
  if (holds_wte_) out.push_back(&wte_);
  if (holds_wpe_) out.push_back(&wpe_);
  for (Block& b : blocks_) {
    for (Parameter* p : b.Parameters()) out.push_back(p);
  }
  if (holds_lnf_) {
    out.push_back(&lnf_w_);
    out.push_back(&lnf_b_);
  }
  return out;
}

void Gpt::ZeroGrad() {
  for (Parameter* p : Parameters()) ZeroFill(p->grad);
}

Gpt::Slot& Gpt::Prepare(Chunk& c, int slot, int64_t batch, int64_t seq) {
  MT_CHECK(seq > 0 && seq <= config_.seq_len && batch > 0 && slot >= 0);
  if (static_cast<int>(c.slots.size()) <= slot) c.slots.resize(slot + 1);
  if (!c.slots[slot]) c.slots[slot] = std::make_unique<Slot>();
  Slot& s = *c.slots[slot];
  s.batch = batch;
  s.seq = seq;
  const int64_t rows = batch * seq, ch = config_.d_model, v = local_vocab(), n = c.last - c.first;
  s.residual.resize(n + 1);
  s.acts.resize(n);
  for (Tensor& r : s.residual) EnsureCapacity(r, {rows, ch});
  for (int64_t l = 0; l < n; ++l) s.acts[l].Resize(blocks_[c.block0 + l].shape(), batch, seq);
  if (!c.embedding) EnsureCapacity(s.dx, {rows, ch});
  if (c.head) {
    EnsureCapacity(s.lnf, {rows, ch});
    for (Tensor* t : {&s.lnf_mean, &s.lnf_rstd, &s.losses, &s.row_max}) EnsureCapacity(*t, {rows});
    EnsureCapacity(s.partial, {2 * rows});
    for (Tensor* t : {&s.logits, &s.probs}) EnsureCapacity(*t, {rows, v});
    s.predictions.resize(rows);
    EnsureCapacity(dlogits_, {rows, v});
    EnsureCapacity(dlnf_, {rows, ch});
  }
  for (Tensor* t : {&dresidual_a_, &dresidual_b_}) EnsureCapacity(*t, {rows, ch});
  return s;
}

void Gpt::EmbedForward(Slot& s) {
  const Placement& p = placement_;
  const cpu::VocabRange range{vocab_begin_, vocab_begin_ + local_vocab()};
  // Vocab-parallel: every rank embeds the tokens it holds (zeros for the rest); the position
  // embedding is added by rank 0 only, so the sum over the group is the whole embedding.
  float* out = s.residual[0].Data<float>();
  cpu::EmbeddingForward(out, s.tokens, wte_.value.Data<float>(),
                        p.tp_rank == 0 ? wpe_.value.Data<float>() : nullptr, s.batch, s.seq,
                        config_.d_model, range);
  if (p.tp > 1) p.group->AllReduceSum(out, s.batch * s.seq * config_.d_model);
}

float Gpt::ForwardChunk(int chunk, int slot, const int32_t* tokens, const int32_t* targets,
                        int64_t batch, int64_t seq, const float* x) {
  Chunk& c = chunks_[chunk];
  Slot& s = Prepare(c, slot, batch, seq);
  s.tokens = tokens;
  s.targets = targets;
  if (c.embedding) {
    EmbedForward(s);
  } else {
    std::memcpy(s.residual[0].Data<float>(), x, batch * seq * config_.d_model * sizeof(float));
  }
  for (int64_t l = 0; l < c.last - c.first; ++l) {
    blocks_[c.block0 + l].Forward(s.residual[l].Data<float>(), s.residual[l + 1].Data<float>(),
                                  s.acts[l]);
  }
  return c.head ? HeadForward(s) : 0.0f;
}

// The arg-max over the whole vocabulary per row: the lowest index holding the row's maximum
// (over the tp group: the lowest any rank holds), -1 for a row with NaNs.
void Gpt::Predict(Slot& s) {
  const int64_t rows = s.batch * s.seq, v = local_vocab();
  const float* logits = s.logits.Data<float>();
  const float* row_max = s.row_max.Data<float>();
  std::vector<float> best(rows);
  for (int64_t r = 0; r < rows; ++r) {
    best[r] = std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < v; ++i) {
      if (logits[r * v + i] == row_max[r]) {
        best[r] = static_cast<float>(vocab_begin_ + i);
        break;
      }
    }
  }
  if (placement_.tp > 1) placement_.group->AllReduceMin(best.data(), rows);
  for (int64_t r = 0; r < rows; ++r) {
    s.predictions[r] = std::isfinite(best[r]) ? static_cast<int32_t>(best[r]) : -1;
  }
}

float Gpt::HeadForward(Slot& s) {
  const int64_t rows = s.batch * s.seq, c = config_.d_model, v = local_vocab();
  const Placement& p = placement_;
  using namespace mt::cpu;
  LayerNormForward(s.lnf.Data<float>(), s.lnf_mean.Data<float>(), s.lnf_rstd.Data<float>(),
                   s.residual.back().Data<float>(), lnf_w_.value.Data<float>(),
                   lnf_b_.value.Data<float>(), rows, c);
  const float* logits = s.logits.Data<float>();
  LinearForward(s.logits.Data<float>(), s.lnf.Data<float>(), wte_.value.Data<float>(), nullptr,
                rows, c, v);
  // Vocab-parallel cross-entropy (one kernel when a rank holds the whole vocabulary).
  float* row_max = s.row_max.Data<float>();
  float* partial = s.partial.Data<float>();
  if (p.tp > 1 || predict_) CrossEntropyRowMax(row_max, logits, rows, v);
  if (p.tp > 1) p.group->AllReduceMax(row_max, rows);
  s.counted = 0;
  if (predict_) Predict(s);
  if (s.targets == nullptr) return 0.0f;
  if (p.tp == 1) {
    s.counted = CrossEntropyForward(s.losses.Data<float>(), s.probs.Data<float>(), logits,
                                    s.targets, rows, v);
  } else {
    CrossEntropyPartials(partial, s.probs.Data<float>(), logits, row_max, s.targets, rows, v,
                         vocab_begin_);
    p.group->AllReduceSum(partial, 2 * rows);
    s.counted = CrossEntropyFinish(s.losses.Data<float>(), s.probs.Data<float>(), partial, row_max,
                                   s.targets, rows, v);
  }
  double sum = 0;
  for (int64_t r = 0; r < rows; ++r) sum += s.losses.Data<float>()[r];
  return s.counted > 0 ? static_cast<float>(sum / s.counted) : 0.0f;
}

void Gpt::HeadBackward(Slot& s, float loss_scale, float* dresidual) {
  const int64_t rows = s.batch * s.seq, c = config_.d_model, v = local_vocab();
  using namespace mt::cpu;
  ZeroFill(dlogits_);
  ZeroFill(dlnf_);
  if (s.counted > 0) {
    CrossEntropyBackward(dlogits_.Data<float>(), s.probs.Data<float>(), s.targets,
                         loss_scale / static_cast<float>(s.counted), rows, v, vocab_begin_);
  }
  // Tied head: logits = ln_f(x) * wte^T, so wte gets gradient from here and the embedding.
  LinearBackward(dlnf_.Data<float>(), wte_.grad.Data<float>(), nullptr, dlogits_.Data<float>(),
                 s.lnf.Data<float>(), wte_.value.Data<float>(), rows, c, v);
  // Each rank's vocabulary slice contributes part of ln_f's output gradient.
  if (placement_.tp > 1) placement_.group->AllReduceSum(dlnf_.Data<float>(), rows * c);
  LayerNormBackward(dresidual, lnf_w_.grad.Data<float>(), lnf_b_.grad.Data<float>(),
                    dlnf_.Data<float>(), s.residual.back().Data<float>(),
                    lnf_w_.value.Data<float>(), s.lnf_mean.Data<float>(), s.lnf_rstd.Data<float>(),
                    rows, c);
}

void Gpt::BackwardChunk(int chunk, int slot, const float* dy_in, float loss_scale,
                        const GradsReady& ready) {
  Chunk& c = chunks_[chunk];
  MT_CHECK(slot < static_cast<int>(c.slots.size()) && c.slots[slot]);
  Slot& s = *c.slots[slot];
  const int64_t rows = s.batch * s.seq, ch = config_.d_model;
  Tensor* dy = &dresidual_a_;
  Tensor* dx = &dresidual_b_;
  if (c.head) {
    MT_CHECK(s.targets != nullptr);
    ZeroFill(*dy);
    HeadBackward(s, loss_scale, dy->Data<float>());
    if (ready) ready({&lnf_w_, &lnf_b_});
  } else {
    std::memcpy(dy->Data<float>(), dy_in, rows * ch * sizeof(float));
  }
  for (int64_t l = c.last - c.first - 1; l >= 0; --l) {
    ZeroFill(*dx);
    Block& b = blocks_[c.block0 + l];
    b.Backward(s.residual[l].Data<float>(), dy->Data<float>(), dx->Data<float>(), s.acts[l],
               scratch_);
    std::swap(dy, dx);
    if (ready) ready(b.Parameters());
  }
  if (c.embedding) {
    cpu::EmbeddingBackward(wte_.grad.Data<float>(), wpe_.grad.Data<float>(), dy->Data<float>(),
                           s.tokens, s.batch, s.seq, ch,
                           {vocab_begin_, vocab_begin_ + local_vocab()});
    if (ready) ready({&wpe_, &wte_});
  } else {
    std::memcpy(s.dx.Data<float>(), dy->Data<float>(), rows * ch * sizeof(float));
  }
}

const float* Gpt::Output(int chunk, int slot) const {
  return chunks_[chunk].slots[slot]->residual.back().Data<float>();
}

const float* Gpt::InputGrad(int chunk, int slot) const {
  return chunks_[chunk].slots[slot]->dx.Data<float>();
}

const Gpt::Slot& Gpt::HeadSlot(int slot) const {
  const Chunk& c = chunks_.back();
  MT_CHECK(c.head && slot < static_cast<int>(c.slots.size()) && c.slots[slot]);
  return *c.slots[slot];
}

const float* Gpt::logits(int slot) const { return HeadSlot(slot).logits.Data<float>(); }
const float* Gpt::probs(int slot) const { return HeadSlot(slot).probs.Data<float>(); }
const int32_t* Gpt::predictions(int slot) const { return HeadSlot(slot).predictions.data(); }
int64_t Gpt::counted(int slot) const { return HeadSlot(slot).counted; }

float Gpt::Forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq) {
  MT_CHECK(chunks_.size() == 1 && chunks_[0].embedding && chunks_[0].head);
  return ForwardChunk(0, 0, tokens, targets, batch, seq, nullptr);
}

void Gpt::Backward(float loss_scale, const GradsReady& ready) {
  BackwardChunk(0, 0, nullptr, loss_scale, ready);
}

}  // namespace mt::nn
