// GPT: token + position embedding, n_layer pre-LN blocks, final LayerNorm, LM head tied to the
// token embedding, softmax cross-entropy. Explicit forward/backward over CPU kernels.
//
// Usage per step: ZeroGrad(); for each micro-batch { Forward(tokens, targets); Backward(s); }
// then the optimizer reads Parameters(). Not thread-safe: one model per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/nn/block.h"
#include "runtime/nn/parameter.h"

namespace mt::nn {

struct GptConfig {
  int64_t n_layer = 0, n_head = 0, d_model = 0, d_ff = 0, seq_len = 0, vocab_size = 0;
  static GptConfig FromSpec(const meshtrain::v1::ModelSpec& spec);
};

class Gpt {
 public:
  // Parameters are initialised deterministically from `seed` (GPT-2 scheme).
  static absl::StatusOr<std::unique_ptr<Gpt>> Create(const GptConfig& config, uint64_t seed);

  // Runs the model on tokens [batch, seq] (seq <= seq_len). With targets (same shape; < 0 =
  // ignored) returns the mean cross-entropy over counted positions; without, returns 0 and only
  // the logits are meaningful. Token values must be in [0, vocab_size).
  float Forward(const int32_t* tokens, const int32_t* targets, int64_t batch, int64_t seq);

  // Backward of the last Forward (which had targets). Gradients += loss_scale * dloss/dparam,
  // where loss is that Forward's mean: loss_scale = 1 / micro_batches averages micro-batches.
  // `ready` (optional) is told, as backward goes, which parameters' gradients this backward
  // has finished: ln_f, then each block from the last to the first, then wte and wpe (wte
  // last: the tied head and the embedding both add to it). Data parallelism starts
  // communicating those while the rest of backward runs.
  using GradsReady = std::function<void(const std::vector<Parameter*>&)>;
  void Backward(float loss_scale, const GradsReady& ready = {});

  void ZeroGrad();
  // Canonical order: wte, wpe, blocks in order, ln_f (checkpoints and the optimizer use it).
  std::vector<Parameter*> Parameters();
  const GptConfig& config() const { return config_; }
  // Logits [batch, seq, vocab] and probabilities of the last Forward.
  const float* logits() const { return logits_.Data<float>(); }
  const float* probs() const { return probs_.Data<float>(); }
  // Counted target positions of the last Forward.
  int64_t counted() const { return counted_; }

 private:
  explicit Gpt(const GptConfig& config);
  void Resize(int64_t batch, int64_t seq);

  GptConfig config_;
  Parameter wte_, wpe_, lnf_w_, lnf_b_;
  std::vector<Block> blocks_;
  // Activations of the last Forward.
  int64_t batch_ = 0, seq_ = 0, counted_ = 0;
  const int32_t* tokens_ = nullptr;
  const int32_t* targets_ = nullptr;
  std::vector<Tensor> residual_;  // n_layer + 1 tensors [rows, C]: block inputs and the output
  std::vector<BlockActivations> acts_;
  Tensor lnf_, lnf_mean_, lnf_rstd_, logits_, probs_, losses_;
  // Backward scratch.
  BlockScratch scratch_;
  Tensor dlogits_, dresidual_a_, dresidual_b_, dlnf_;
};

}  // namespace mt::nn
