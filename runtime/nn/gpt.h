// GPT: token + position embedding, n_layer pre-LN blocks, final LayerNorm, LM head tied to the
// token embedding, softmax cross-entropy. Explicit forward/backward over CPU kernels.
//
// One process, whole model: ZeroGrad(); for each micro-batch { Forward(tokens, targets);
// Backward(s); } then the optimizer reads Parameters().
//
// Under a Placement (placement.h) the object holds one rank's part: its tensor-parallel slice
// of every parameter it holds, and the layers of its pipeline chunks. The chunk API runs one
// chunk on one micro-batch "slot" (a pipeline stage keeps several micro-batches in flight,
// each in its own slot); Forward/Backward are chunk 0, slot 0 of a model whose single chunk
// holds everything. Not thread-safe: one model per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/nn/block.h"
#include "runtime/nn/model.h"
#include "runtime/nn/parameter.h"
#include "runtime/nn/placement.h"

namespace mt::nn {

struct GptConfig {
  int64_t n_layer = 0, n_head = 0, d_model = 0, d_ff = 0, seq_len = 0, vocab_size = 0;
  static GptConfig FromSpec(const meshtrain::v1::ModelSpec& spec);
};

class Gpt final : public Model {
 public:
  // Parameters are initialised deterministically from `seed` (GPT-2 scheme), the same values
  // whatever the placement. InvalidArgument for a config or placement that does not divide.
  static absl::StatusOr<std::unique_ptr<Gpt>> Create(const GptConfig& config, uint64_t seed,
                                                     Placement placement = {});

  // Runs the model on tokens [batch, seq] (seq <= seq_len). With targets (same shape; < 0 =
  // ignored) returns the mean cross-entropy over counted positions; without, returns 0 and only
  // the logits are meaningful. Token values must be in [0, vocab_size).
  float Forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq) override;

  // Backward of the last Forward (which had targets). Gradients += loss_scale * dloss/dparam,
  // where loss is that Forward's mean: loss_scale = 1 / micro_batches averages micro-batches.
  // `ready` (optional) is told, as backward goes, which parameters' gradients this backward
  // has finished: ln_f, then each block from the last to the first, then wte and wpe (wte
  // last: the tied head and the embedding both add to it). Data parallelism starts
  // communicating those while the rest of backward runs.
  void Backward(float loss_scale, const GradsReady& ready = {}) override;

  // ---- chunks (pipeline parallelism) ----
  int chunks() const override { return static_cast<int>(chunks_.size()); }
  bool has_embedding(int chunk) const override { return chunks_[chunk].embedding; }
  bool has_head(int chunk) const override { return chunks_[chunk].head; }
  // Runs `chunk` on `slot`. tokens [batch, seq] are needed by every chunk (the embedding chunk
  // embeds them), targets by the head chunk (may be null: no loss); `x` [batch*seq, C] is the
  // previous chunk's output (ignored by the embedding chunk). tokens and targets must stay
  // valid until the slot's backward. Returns the head chunk's loss, else 0.
  float ForwardChunk(int chunk, int slot, const int32_t* tokens, const int32_t* targets,
                     int64_t batch, int64_t seq, const float* x) override;
  // The chunk's output [batch*seq, C] (chunks without the head).
  const float* Output(int chunk, int slot) const override;
  // Backward of that slot's forward: `dy` is the gradient of Output (ignored by the head
  // chunk, which starts from its loss scaled by loss_scale).
  void BackwardChunk(int chunk, int slot, const float* dy, float loss_scale,
                     const GradsReady& ready = {}) override;
  // The gradient of the chunk's input x [batch*seq, C] (chunks without the embedding).
  const float* InputGrad(int chunk, int slot) const override;

  void ZeroGrad() override;
  // Canonical order of what this rank holds: wte, wpe, blocks in order, ln_f (checkpoints and
  // the optimizer use it). The head chunk of a pipeline holds wte (tied) without wpe.
  std::vector<Parameter*> Parameters() override;
  // Whether `name` is a parameter of a model of `config` (on whichever rank holds it).
  static bool IsParameterName(const GptConfig& config, const std::string& name);
  // -1: wte, wpe; n_layer: ln_f; else the block of "h.<l>.*".
  std::optional<int64_t> LayerOfParameter(const std::string& name) const override;
  absl::StatusOr<std::unique_ptr<Model>> NewWhole(uint64_t seed) const override;
  const char* family() const override { return "gpt"; }
  const ModelDims& dims() const override { return dims_; }
  // True for the LM head's copy of the tied embedding on a pipeline stage without the
  // embedding (its gradient is summed with the first stage's; count the norm there only).
  bool IsTiedCopy(const Parameter* p) const override { return p == &wte_ && !holds_wpe_; }
  const GptConfig& config() const { return config_; }
  const Placement& placement() const override { return placement_; }
  // The vocabulary columns this rank's logits hold: [vocab_begin, vocab_begin + local_vocab).
  int64_t vocab_begin() const override { return vocab_begin_; }
  int64_t local_vocab() const override { return config_.vocab_size / placement_.tp; }
  // Of the last head forward in `slot`: logits and probabilities [rows, local_vocab], the
  // arg-max over the whole vocabulary per row, the counted target positions.
  const float* logits(int slot = 0) const override;
  const float* probs(int slot = 0) const override;
  const int32_t* predictions(int slot = 0) const override;
  // Whether head forwards compute predictions (default on; under tp it costs an all-reduce
  // per forward, which training does not need). Every tp rank must set the same.
  void set_predict(bool on) override { predict_ = on; }
  int64_t counted(int slot = 0) const override;

 private:
  // Everything one forward keeps for its backward.
  struct Slot {
    int64_t batch = 0, seq = 0, counted = 0;
    const int32_t* tokens = nullptr;
    const int32_t* targets = nullptr;
    std::vector<Tensor> residual;  // chunk layers + 1 tensors [rows, C]: inputs and the output
    std::vector<BlockActivations> acts;
    Tensor lnf, lnf_mean, lnf_rstd, logits, probs, losses, row_max, partial;
    std::vector<int32_t> predictions;
    Tensor dx;  // gradient of the chunk's input (chunks without the embedding)
  };

  struct Chunk {
    int64_t first = 0, last = 0;  // layers [first, last)
    bool embedding = false, head = false;
    size_t block0 = 0;  // index of layer `first` in blocks_
    std::vector<std::unique_ptr<Slot>> slots;
  };
  Gpt(const GptConfig& config, Placement placement);
  Slot& Prepare(Chunk& c, int slot, int64_t batch, int64_t seq);
  float HeadForward(Slot& s);
  void Predict(Slot& s);
  void HeadBackward(Slot& s, float loss_scale, float* dresidual);
  void EmbedForward(Slot& s);
  const Slot& HeadSlot(int slot) const;

  GptConfig config_;
  ModelDims dims_;
  Placement placement_;
  int64_t vocab_begin_ = 0;
  bool holds_wte_ = false, holds_wpe_ = false, holds_lnf_ = false;
  bool predict_ = true;
  Parameter wte_, wpe_, lnf_w_, lnf_b_;
  std::vector<Block> blocks_;  // this rank's layers, chunk after chunk
  std::vector<Chunk> chunks_;
  // Backward scratch, shared by chunks and slots.
  BlockScratch scratch_;
  Tensor dlogits_, dresidual_a_, dresidual_b_, dlnf_;
};

}  // namespace mt::nn
