// GPT on one CUDA device (see cuda_gpt.h). The structure follows runtime/nn/gpt.cc and
// block.cc line for line, so a difference between the two is a kernel difference, which the
// kernel twin tests and the model gpu test locate.
#include "runtime/nn/cuda/cuda_gpt.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "fmt/format.h"
#include "runtime/kernels/cuda/adamw.h"
#include "runtime/kernels/cuda/attention.h"
#include "runtime/kernels/cuda/axpy.h"
#include "runtime/kernels/cuda/bias.h"
#include "runtime/kernels/cuda/cast.h"
#include "runtime/kernels/cuda/cross_entropy.h"
#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/embedding.h"
#include "runtime/kernels/cuda/gelu.h"
#include "runtime/kernels/cuda/layernorm.h"

namespace mt::nn::cuda {

using mt::cuda::Blas;

// What one block's forward keeps for its backward ([rows] = batch * seq positions).
struct CudaGpt::LayerActs {
  float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *x1, *ln2, *ln2_mean, *ln2_rstd, *fc,
      *fc_gelu;
  __nv_bfloat16 *ln1_bf, *atty_bf, *ln2_bf, *fc_gelu_bf;  // GEMM inputs (bf16 mode)
};

struct CudaGpt::Buffers {
  int32_t *tokens, *targets;
  std::vector<float*> residual;  // n_layer + 1: each block's input, then the last output
  std::vector<LayerActs> layers;
  float *lnf, *lnf_mean, *lnf_rstd, *logits, *probs, *losses;
  __nv_bfloat16* lnf_bf;
  // Backward scratch, shared by the layers.
  float *dres_a, *dres_b, *dx1, *dln2, *dfc, *dfc_gelu, *datty, *dqkv, *dln1, *dlogits, *dlnf;
  float* att_scratch;      // attention backward's [batch, heads, seq, seq]
  __nv_bfloat16* dout_bf;  // a layer's output gradient cast for the GEMMs
  double *norm, *norm_partials;
};

namespace {

constexpr int kBlockParams = 12;  // Block::ParameterSuffixes().size()
// Indices into Block::ParameterSuffixes().
enum : int {
  kLn1W,
  kLn1B,
  kQkvW,
  kQkvB,
  kProjW,
  kProjB,
  kLn2W,
  kLn2B,
  kFcW,
  kFcB,
  kFcProjW,
  kFcProjB
};

}  // namespace

CudaGpt::CudaGpt(const GptConfig& config, CudaGptOptions options, Blas blas, cudaStream_t stream)
    : config_(config), options_(options), blas_(std::move(blas)), stream_(stream) {}

CudaGpt::~CudaGpt() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  blas_.reset();
  for (void* p : allocations_) cudaFree(p);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::StatusOr<std::unique_ptr<CudaGpt>> CudaGpt::Create(Gpt& host, int64_t max_batch,
                                                         int64_t max_seq, CudaGptOptions o) {
  const Placement& p = host.placement();
  if (p.tp != 1 || host.chunks() != 1 || !host.has_embedding(0) || !host.has_head(0)) {
    return absl::InvalidArgumentError(
        "the CUDA GPT holds a whole model: tensor and pipeline parallelism are not supported");
  }
  const GptConfig& c = host.config();
  if (max_batch < 1 || max_seq < 1 || max_seq > c.seq_len) {
    return absl::InvalidArgumentError(fmt::format(
        "CUDA GPT: batch {} x seq {} (seq must be in [1, {}])", max_batch, max_seq, c.seq_len));
  }
  cudaStream_t stream = nullptr;
  MT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto blas = Blas::Create(stream);
  if (!blas.ok()) {
    cudaStreamDestroy(stream);
    return blas.status();
  }
  std::unique_ptr<CudaGpt> g(new CudaGpt(c, o, std::move(*blas), stream));
  const std::vector<Parameter*> host_params = host.Parameters();
  for (Parameter* param : host_params) {
    g->params_.push_back({param->name, g->total_, param->value.numel(), param->weight_decay});
    g->total_ += param->value.numel();
  }
  const size_t expected = 2 + kBlockParams * c.n_layer + 2;
  if (g->params_.size() != expected) {
    return absl::InternalError(fmt::format("CUDA GPT: host model has {} parameters, expected {}",
                                           g->params_.size(), expected));
  }
  MT_RETURN_IF_ERROR(g->Allocate(max_batch, max_seq));
  // Values up, moments zero, bf16 copies cast from the values.
  std::vector<float> flat(g->total_);
  for (size_t i = 0; i < g->params_.size(); ++i) {
    const Parameter* param = host_params[i];
    std::memcpy(flat.data() + g->params_[i].offset, param->value.Data<float>(),
                param->value.numel() * sizeof(float));
  }
  // Everything on the model's stream (non-blocking: the legacy default stream would not order
  // with it).
  MT_CUDA_CHECK(cudaMemcpyAsync(g->values_, flat.data(), flat.size() * sizeof(float),
                                cudaMemcpyHostToDevice, stream));
  MT_CUDA_CHECK(cudaMemsetAsync(g->m_, 0, g->total_ * sizeof(float), stream));
  MT_CUDA_CHECK(cudaMemsetAsync(g->v_, 0, g->total_ * sizeof(float), stream));
  MT_RETURN_IF_ERROR(g->ZeroGrad());
  if (o.bf16) MT_CUDA_CHECK(mt::cuda::LaunchCastToBF16(g->bf16_, g->values_, g->total_, stream));
  MT_RETURN_IF_ERROR(g->Synchronize());
  return g;
}

// One cudaMalloc per array, freed by the destructor.
absl::Status CudaGpt::Allocate(int64_t max_batch, int64_t max_seq) {
  max_batch_ = max_batch;
  max_seq_ = max_seq;
  const GptConfig& c = config_;
  const int64_t rows = max_batch * max_seq, C = c.d_model, F = c.d_ff, V = c.vocab_size;
  const int64_t att = max_batch * c.n_head * max_seq * max_seq;
  absl::Status status = absl::OkStatus();
  auto alloc = [&](auto** ptr, int64_t n) {
    *ptr = nullptr;
    if (!status.ok()) return;
    void* raw = nullptr;
    const cudaError_t e = cudaMalloc(&raw, std::max<int64_t>(n, 1) * sizeof(**ptr));
    if (e != cudaSuccess) {
      status = absl::ResourceExhaustedError(fmt::format(
          "CUDA GPT: cudaMalloc of {} bytes failed ({}); lower the batch or sequence length",
          n * sizeof(**ptr), cudaGetErrorString(e)));
      return;
    }
    allocations_.push_back(raw);
    *ptr = static_cast<std::remove_reference_t<decltype(*ptr)>>(raw);
  };
  alloc(&values_, total_);
  alloc(&grads_, total_);
  alloc(&m_, total_);
  alloc(&v_, total_);
  if (options_.bf16) alloc(&bf16_, total_);
  buf_ = std::make_unique<Buffers>();
  Buffers& b = *buf_;
  alloc(&b.tokens, rows);
  alloc(&b.targets, rows);
  b.residual.resize(c.n_layer + 1);
  for (float*& r : b.residual) alloc(&r, rows * C);
  b.layers.resize(c.n_layer);
  for (LayerActs& a : b.layers) {
    for (float** p : {&a.ln1, &a.atty, &a.x1, &a.ln2}) alloc(p, rows * C);
    for (float** p : {&a.ln1_mean, &a.ln1_rstd, &a.ln2_mean, &a.ln2_rstd}) alloc(p, rows);
    alloc(&a.qkv, rows * 3 * C);
    alloc(&a.att, att);
    alloc(&a.fc, rows * F);
    alloc(&a.fc_gelu, rows * F);
    a.ln1_bf = a.atty_bf = a.ln2_bf = a.fc_gelu_bf = nullptr;
    if (options_.bf16) {
      for (__nv_bfloat16** p : {&a.ln1_bf, &a.atty_bf, &a.ln2_bf}) alloc(p, rows * C);
      alloc(&a.fc_gelu_bf, rows * F);
    }
  }
  alloc(&b.lnf, rows * C);
  alloc(&b.lnf_mean, rows);
  alloc(&b.lnf_rstd, rows);
  alloc(&b.logits, rows * V);
  alloc(&b.probs, rows * V);
  alloc(&b.losses, rows);
  b.lnf_bf = nullptr;
  if (options_.bf16) alloc(&b.lnf_bf, rows * C);
  for (float** p : {&b.dres_a, &b.dres_b, &b.dx1, &b.dln2, &b.datty, &b.dln1, &b.dlnf}) {
    alloc(p, rows * C);
  }
  alloc(&b.dfc, rows * F);
  alloc(&b.dfc_gelu, rows * F);
  alloc(&b.dqkv, rows * 3 * C);
  alloc(&b.dlogits, rows * V);
  alloc(&b.att_scratch, att);
  b.dout_bf = nullptr;
  if (options_.bf16) alloc(&b.dout_bf, rows * std::max({V, F, 3 * C}));
  alloc(&b.norm, 1);
  alloc(&b.norm_partials, mt::cuda::kSumSquaresBlocks);
  return status;
}

CudaGpt::View CudaGpt::P(size_t i) const {
  const int64_t off = params_[i].offset;
  return {values_ + off, grads_ + off, bf16_ != nullptr ? bf16_ + off : nullptr};
}

CudaGpt::View CudaGpt::BlockParam(int64_t layer, int which) const {
  return P(2 + kBlockParams * layer + which);
}

absl::Status CudaGpt::Synchronize() const {
  MT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

absl::Status CudaGpt::ZeroGrad() {
  MT_CUDA_CHECK(cudaMemsetAsync(grads_, 0, total_ * sizeof(float), stream_));
  return absl::OkStatus();
}

absl::Status CudaGpt::Linear(float* out, Input in, const View& w, const View* b, int64_t rows,
                             int64_t in_f, int64_t out_f) {
  const float beta = b != nullptr ? 1.0f : 0.0f;
  if (b != nullptr)
    MT_CUDA_CHECK(mt::cuda::LaunchBroadcastRows(out, b->value, rows, out_f, stream_));
  if (!options_.bf16) {
    return blas_->Gemm(false, true, rows, out_f, in_f, 1.0f, in.f32, in_f, w.value, in_f, beta, out,
                       out_f);
  }
  MT_CUDA_CHECK(mt::cuda::LaunchCastToBF16(in.bf16, in.f32, rows * in_f, stream_));
  return blas_->GemmBF16(false, true, rows, out_f, in_f, 1.0f, in.bf16, in_f, w.bf16, in_f, beta,
                         out, out_f);
}

absl::Status CudaGpt::LinearBackward(float* dinp, const View& w, const View* b, const float* dout,
                                     Input in, int64_t rows, int64_t in_f, int64_t out_f) {
  if (b != nullptr) MT_CUDA_CHECK(mt::cuda::LaunchColumnSum(b->grad, dout, rows, out_f, stream_));
  if (!options_.bf16) {
    if (dinp != nullptr) {
      MT_RETURN_IF_ERROR(blas_->Gemm(false, false, rows, in_f, out_f, 1.0f, dout, out_f, w.value,
                                     in_f, 1.0f, dinp, in_f));
    }
    return blas_->Gemm(true, false, out_f, in_f, rows, 1.0f, dout, out_f, in.f32, in_f, 1.0f,
                       w.grad, in_f);
  }
  __nv_bfloat16* dout_bf = buf_->dout_bf;
  MT_CUDA_CHECK(mt::cuda::LaunchCastToBF16(dout_bf, dout, rows * out_f, stream_));
  if (dinp != nullptr) {
    MT_RETURN_IF_ERROR(blas_->GemmBF16(false, false, rows, in_f, out_f, 1.0f, dout_bf, out_f,
                                       w.bf16, in_f, 1.0f, dinp, in_f));
  }
  // in.bf16 still holds the cast Linear made in forward.
  return blas_->GemmBF16(true, false, out_f, in_f, rows, 1.0f, dout_bf, out_f, in.bf16, in_f, 1.0f,
                         w.grad, in_f);
}

// x1 = x + proj(attention(qkv(ln_1(x)))); y = x1 + fc_proj(gelu(fc(ln_2(x1))))
absl::Status CudaGpt::BlockForward(int64_t l, const float* x, float* y) {
  LayerActs& a = buf_->layers[l];
  const int64_t rows = batch_ * seq_, C = config_.d_model, F = config_.d_ff;
  const int64_t heads = config_.n_head, hs = C / heads;
  const View ln1w = BlockParam(l, kLn1W), ln1b = BlockParam(l, kLn1B), ln2w = BlockParam(l, kLn2W),
             ln2b = BlockParam(l, kLn2B);
  const View qkvb = BlockParam(l, kQkvB), projb = BlockParam(l, kProjB), fcb = BlockParam(l, kFcB),
             fcprojb = BlockParam(l, kFcProjB);
  MT_CUDA_CHECK(mt::cuda::LaunchLayerNormForward(a.ln1, a.ln1_mean, a.ln1_rstd, x, ln1w.value,
                                                 ln1b.value, rows, C, stream_));
  MT_RETURN_IF_ERROR(Linear(a.qkv, {a.ln1, a.ln1_bf}, BlockParam(l, kQkvW), &qkvb, rows, C, 3 * C));
  MT_CUDA_CHECK(
      mt::cuda::LaunchAttentionForward(a.atty, a.att, a.qkv, batch_, seq_, heads, hs, stream_));
  MT_RETURN_IF_ERROR(Linear(a.x1, {a.atty, a.atty_bf}, BlockParam(l, kProjW), &projb, rows, C, C));
  MT_CUDA_CHECK(mt::cuda::LaunchAxpy(1.0f, x, a.x1, rows * C, stream_));
  MT_CUDA_CHECK(mt::cuda::LaunchLayerNormForward(a.ln2, a.ln2_mean, a.ln2_rstd, a.x1, ln2w.value,
                                                 ln2b.value, rows, C, stream_));
  MT_RETURN_IF_ERROR(Linear(a.fc, {a.ln2, a.ln2_bf}, BlockParam(l, kFcW), &fcb, rows, C, F));
  MT_CUDA_CHECK(mt::cuda::LaunchGeluForward(a.fc_gelu, a.fc, rows * F, stream_));
  MT_RETURN_IF_ERROR(
      Linear(y, {a.fc_gelu, a.fc_gelu_bf}, BlockParam(l, kFcProjW), &fcprojb, rows, F, C));
  MT_CUDA_CHECK(mt::cuda::LaunchAxpy(1.0f, a.x1, y, rows * C, stream_));
  return absl::OkStatus();
}

absl::StatusOr<float> CudaGpt::Forward(const int32_t* tokens, const int32_t* targets, int64_t batch,
                                       int64_t seq) {
  if (batch < 1 || seq < 1 || batch > max_batch_ || seq > max_seq_) {
    return absl::InvalidArgumentError(
        fmt::format("CUDA GPT forward: batch {} x seq {} outside the allocated {} x {}", batch, seq,
                    max_batch_, max_seq_));
  }
  const int64_t rows = batch * seq, C = config_.d_model, V = config_.vocab_size;
  for (int64_t i = 0; i < rows; ++i) {
    if (tokens[i] < 0 || tokens[i] >= V || (targets != nullptr && targets[i] >= V)) {
      return absl::InvalidArgumentError(fmt::format(
          "CUDA GPT forward: token or target at {} outside the vocabulary [0, {})", i, V));
    }
  }
  batch_ = batch;
  seq_ = seq;
  Buffers& b = *buf_;
  MT_CUDA_CHECK(
      cudaMemcpyAsync(b.tokens, tokens, rows * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  counted_ = 0;
  has_targets_ = targets != nullptr;
  if (targets != nullptr) {
    for (int64_t i = 0; i < rows; ++i) counted_ += targets[i] >= 0;
    MT_CUDA_CHECK(cudaMemcpyAsync(b.targets, targets, rows * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, stream_));
  }
  MT_CUDA_CHECK(mt::cuda::LaunchEmbeddingForward(b.residual[0], b.tokens, P(0).value, P(1).value,
                                                 batch, seq, C, stream_));
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    MT_RETURN_IF_ERROR(BlockForward(l, b.residual[l], b.residual[l + 1]));
  }
  const View lnfw = P(params_.size() - 2), lnfb = P(params_.size() - 1);
  MT_CUDA_CHECK(mt::cuda::LaunchLayerNormForward(b.lnf, b.lnf_mean, b.lnf_rstd,
                                                 b.residual[config_.n_layer], lnfw.value,
                                                 lnfb.value, rows, C, stream_));
  MT_RETURN_IF_ERROR(Linear(b.logits, {b.lnf, b.lnf_bf}, P(0), nullptr, rows, C, V));
  if (targets == nullptr) {  // logits only; synchronise anyway, as the header promises
    MT_RETURN_IF_ERROR(Synchronize());
    return 0.0f;
  }
  MT_CUDA_CHECK(mt::cuda::LaunchCrossEntropyForward(b.losses, b.probs, b.logits, b.targets, rows, V,
                                                    stream_));
  std::vector<float> losses(rows);
  MT_CUDA_CHECK(cudaMemcpyAsync(losses.data(), b.losses, rows * sizeof(float),
                                cudaMemcpyDeviceToHost, stream_));
  MT_RETURN_IF_ERROR(Synchronize());
  double sum = 0;
  for (float x : losses) sum += x;
  return counted_ > 0 ? static_cast<float>(sum / counted_) : 0.0f;
}

// Tied head: logits = ln_f(x) * wte^T, so wte gets gradient here and from the embedding.
absl::Status CudaGpt::HeadBackward(float loss_scale, float* dresidual) {
  Buffers& b = *buf_;
  const int64_t rows = batch_ * seq_, C = config_.d_model, V = config_.vocab_size;
  MT_CUDA_CHECK(cudaMemsetAsync(b.dlogits, 0, rows * V * sizeof(float), stream_));
  MT_CUDA_CHECK(cudaMemsetAsync(b.dlnf, 0, rows * C * sizeof(float), stream_));
  if (counted_ > 0) {
    MT_CUDA_CHECK(mt::cuda::LaunchCrossEntropyBackward(b.dlogits, b.probs, b.targets,
                                                       loss_scale / static_cast<float>(counted_),
                                                       rows, V, stream_));
  }
  MT_RETURN_IF_ERROR(
      LinearBackward(b.dlnf, P(0), nullptr, b.dlogits, {b.lnf, b.lnf_bf}, rows, C, V));
  const View lnfw = P(params_.size() - 2), lnfb = P(params_.size() - 1);
  MT_CUDA_CHECK(mt::cuda::LaunchLayerNormBackward(dresidual, lnfw.grad, lnfb.grad, b.dlnf,
                                                  b.residual[config_.n_layer], lnfw.value,
                                                  b.lnf_mean, b.lnf_rstd, rows, C, stream_));
  return absl::OkStatus();
}

absl::Status CudaGpt::BlockBackward(int64_t l, const float* x, const float* dy, float* dx) {
  Buffers& b = *buf_;
  LayerActs& a = b.layers[l];
  const int64_t rows = batch_ * seq_, C = config_.d_model, F = config_.d_ff;
  const int64_t heads = config_.n_head, hs = C / heads;
  const std::pair<float*, int64_t> zeroed[] = {{b.dln2, rows * C},     {b.dfc, rows * F},
                                               {b.dfc_gelu, rows * F}, {b.datty, rows * C},
                                               {b.dqkv, rows * 3 * C}, {b.dln1, rows * C}};
  for (const auto& [p, n] : zeroed) {
    MT_CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), stream_));
  }
  const View ln1w = BlockParam(l, kLn1W), ln1b = BlockParam(l, kLn1B), ln2w = BlockParam(l, kLn2W),
             ln2b = BlockParam(l, kLn2B);
  const View qkvb = BlockParam(l, kQkvB), projb = BlockParam(l, kProjB), fcb = BlockParam(l, kFcB),
             fcprojb = BlockParam(l, kFcProjB);
  // MLP half: y = x1 + fc_proj(gelu(fc(ln_2(x1))))
  MT_CUDA_CHECK(
      cudaMemcpyAsync(b.dx1, dy, rows * C * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
  MT_RETURN_IF_ERROR(LinearBackward(b.dfc_gelu, BlockParam(l, kFcProjW), &fcprojb, dy,
                                    {a.fc_gelu, a.fc_gelu_bf}, rows, F, C));
  MT_CUDA_CHECK(mt::cuda::LaunchGeluBackward(b.dfc, a.fc, b.dfc_gelu, rows * F, stream_));
  MT_RETURN_IF_ERROR(
      LinearBackward(b.dln2, BlockParam(l, kFcW), &fcb, b.dfc, {a.ln2, a.ln2_bf}, rows, C, F));
  MT_CUDA_CHECK(mt::cuda::LaunchLayerNormBackward(b.dx1, ln2w.grad, ln2b.grad, b.dln2, a.x1,
                                                  ln2w.value, a.ln2_mean, a.ln2_rstd, rows, C,
                                                  stream_));
  // Attention half: x1 = x + proj(attention(qkv(ln_1(x))))
  MT_CUDA_CHECK(mt::cuda::LaunchAxpy(1.0f, b.dx1, dx, rows * C, stream_));
  MT_RETURN_IF_ERROR(LinearBackward(b.datty, BlockParam(l, kProjW), &projb, b.dx1,
                                    {a.atty, a.atty_bf}, rows, C, C));
  MT_CUDA_CHECK(mt::cuda::LaunchAttentionBackward(b.dqkv, b.att_scratch, b.datty, a.qkv, a.att,
                                                  batch_, seq_, heads, hs, stream_));
  MT_RETURN_IF_ERROR(LinearBackward(b.dln1, BlockParam(l, kQkvW), &qkvb, b.dqkv, {a.ln1, a.ln1_bf},
                                    rows, C, 3 * C));
  MT_CUDA_CHECK(mt::cuda::LaunchLayerNormBackward(dx, ln1w.grad, ln1b.grad, b.dln1, x, ln1w.value,
                                                  a.ln1_mean, a.ln1_rstd, rows, C, stream_));
  return absl::OkStatus();
}

absl::Status CudaGpt::Backward(float loss_scale) {
  if (!has_targets_) {
    return absl::FailedPreconditionError("CUDA GPT backward without a forward with targets");
  }
  Buffers& b = *buf_;
  const int64_t rows = batch_ * seq_, C = config_.d_model;
  float* dy = b.dres_a;
  float* dx = b.dres_b;
  MT_CUDA_CHECK(cudaMemsetAsync(dy, 0, rows * C * sizeof(float), stream_));
  MT_RETURN_IF_ERROR(HeadBackward(loss_scale, dy));
  for (int64_t l = config_.n_layer - 1; l >= 0; --l) {
    MT_CUDA_CHECK(cudaMemsetAsync(dx, 0, rows * C * sizeof(float), stream_));
    MT_RETURN_IF_ERROR(BlockBackward(l, b.residual[l], dy, dx));
    std::swap(dy, dx);
  }
  MT_CUDA_CHECK(mt::cuda::LaunchEmbeddingBackward(P(0).grad, P(1).grad, dy, b.tokens, batch_, seq_,
                                                  C, stream_));
  return absl::OkStatus();
}

absl::StatusOr<double> CudaGpt::GradNormSquared() {
  MT_CUDA_CHECK(
      mt::cuda::LaunchSumSquares(buf_->norm, buf_->norm_partials, grads_, total_, stream_));
  double norm = 0;
  MT_CUDA_CHECK(
      cudaMemcpyAsync(&norm, buf_->norm, sizeof(double), cudaMemcpyDeviceToHost, stream_));
  MT_RETURN_IF_ERROR(Synchronize());
  return norm;
}

absl::Status CudaGpt::Update(const AdamWStep& s) {
  for (const Param& p : params_) {
    mt::cuda::AdamWArgs a{s.lr,   s.beta1,     s.beta2, s.eps, p.decay ? s.weight_decay : 0.0f,
                          s.step, s.grad_scale};
    MT_CUDA_CHECK(
        mt::cuda::LaunchAdamW(values_ + p.offset, grads_ + p.offset, m_ + p.offset, v_ + p.offset,
                              bf16_ != nullptr ? bf16_ + p.offset : nullptr, p.numel, a, stream_));
  }
  return absl::OkStatus();
}

absl::Status CudaGpt::CopyTo(Gpt& host, bool grads) const {
  std::vector<Parameter*> hp = host.Parameters();
  if (hp.size() != params_.size()) {
    return absl::InvalidArgumentError("CUDA GPT: copy into a model of another shape");
  }
  MT_RETURN_IF_ERROR(Synchronize());
  for (size_t i = 0; i < hp.size(); ++i) {
    const Param& p = params_[i];
    if (hp[i]->name != p.name || hp[i]->value.numel() != p.numel) {
      return absl::InvalidArgumentError(
          fmt::format("CUDA GPT: parameter {} does not match the host's {}", p.name, hp[i]->name));
    }
    MT_CUDA_CHECK(cudaMemcpyAsync(hp[i]->value.Data<float>(), values_ + p.offset,
                                  p.numel * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    if (grads) {
      MT_CUDA_CHECK(cudaMemcpyAsync(hp[i]->grad.Data<float>(), grads_ + p.offset,
                                    p.numel * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    }
  }
  return Synchronize();
}

absl::Status CudaGpt::CheckMoments(const std::vector<Tensor>& m,
                                   const std::vector<Tensor>& v) const {
  if (m.size() != params_.size() || v.size() != params_.size()) {
    return absl::InvalidArgumentError(fmt::format(
        "CUDA GPT: {} / {} moment tensors for {} parameters", m.size(), v.size(), params_.size()));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (m[i].numel() != params_[i].numel || v[i].numel() != params_[i].numel) {
      return absl::InvalidArgumentError(
          fmt::format("CUDA GPT: moments of {} have {} / {} elements, expected {}", params_[i].name,
                      m[i].numel(), v[i].numel(), params_[i].numel));
    }
  }
  return absl::OkStatus();
}

absl::Status CudaGpt::CopyMomentsTo(std::vector<Tensor>& m, std::vector<Tensor>& v) const {
  MT_RETURN_IF_ERROR(CheckMoments(m, v));
  MT_RETURN_IF_ERROR(Synchronize());
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& p = params_[i];
    MT_CUDA_CHECK(cudaMemcpyAsync(m[i].Data<float>(), m_ + p.offset, p.numel * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream_));
    MT_CUDA_CHECK(cudaMemcpyAsync(v[i].Data<float>(), v_ + p.offset, p.numel * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream_));
  }
  return Synchronize();
}

absl::Status CudaGpt::LoadMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v) {
  MT_RETURN_IF_ERROR(CheckMoments(m, v));
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& p = params_[i];
    MT_CUDA_CHECK(cudaMemcpyAsync(m_ + p.offset, m[i].Data<float>(), p.numel * sizeof(float),
                                  cudaMemcpyHostToDevice, stream_));
    MT_CUDA_CHECK(cudaMemcpyAsync(v_ + p.offset, v[i].Data<float>(), p.numel * sizeof(float),
                                  cudaMemcpyHostToDevice, stream_));
  }
  return Synchronize();  // the host tensors may change once this returns
}

}  // namespace mt::nn::cuda
