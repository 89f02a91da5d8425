// The model interface: what the engine (train/), data parallelism, the pipeline executor,
// checkpoints, export and `generate` need from a model architecture. The GPT (gpt.h)
// implements it; another family (Llama, ...) is one more implementation plus a line in
// CreateModel (models.h). Nothing above runtime/ names a concrete model.
//
// Contracts every implementation keeps:
// - Parameters() is the rank's canonical order (checkpoints and optimizers rely on it) and
//   names them as the whole model does, whatever the placement: a tensor-parallel rank holds
//   its slice (Parameter::partition says which), a pipeline rank the layers of its chunks.
// - Initial values depend on the seed only, never on the placement.
// - A model is driven from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/nn/parameter.h"
#include "runtime/nn/placement.h"

namespace mt::nn {

// The sizes the engine needs without knowing the family.
struct ModelDims {
  int64_t n_layer = 0;     // transformer blocks (pipeline partition counts these)
  int64_t d_model = 0;     // width of the activations between pipeline chunks
  int64_t seq_len = 0;     // longest context
  int64_t vocab_size = 0;  // logits per position
};

// Told, as backward goes, which parameters' gradients that backward has finished (data
// parallelism starts reducing them while the rest of backward runs).
using GradsReady = std::function<void(const std::vector<Parameter*>&)>;

class Model {
 public:
  virtual ~Model() = default;

  // ---- description ----
  virtual const char* family() const = 0;  // the job's model.arch ("gpt")
  virtual const ModelDims& dims() const = 0;
  virtual const Placement& placement() const = 0;
  virtual std::vector<Parameter*> Parameters() = 0;
  // The layer a parameter of the whole model belongs to, by name: -1 for the embedding end
  // (held by the first pipeline stage), n_layer for the head end (the last stage), nullopt
  // for a name that is no parameter of this model (whichever rank holds it).
  virtual std::optional<int64_t> LayerOfParameter(const std::string& name) const = 0;
  bool IsParameterName(const std::string& name) const { return LayerOfParameter(name).has_value(); }
  // True for a rank's copy of a parameter another stage also holds and owns (a tied
  // embedding on the head's stage): its gradient is summed with the owner's, its norm and
  // its checkpoint are the owner's.
  virtual bool IsTiedCopy(const Parameter* p) const = 0;
  // A new model of the same family and sizes, whole (no placement), initialised from `seed`:
  // what gathering a mesh's slices, loading a model file or a host twin start from.
  virtual absl::StatusOr<std::unique_ptr<Model>> NewWhole(uint64_t seed) const = 0;

  // ---- one process, whole model: ZeroGrad(); per micro-batch Forward + Backward ----
  // tokens [batch, seq] (seq <= seq_len); targets the same shape (< 0: not counted) or null
  // (no loss: logits only). Returns the mean cross-entropy over counted positions.
  virtual float Forward(const int32_t* tokens, const int32_t* targets, int64_t batch,
                        int64_t seq) = 0;
  // Gradients += loss_scale * d(last Forward's loss)/d(parameter).
  virtual void Backward(float loss_scale, const GradsReady& ready = {}) = 0;
  virtual void ZeroGrad() = 0;

  // ---- chunks (pipeline parallelism): one chunk on one micro-batch slot ----
  virtual int chunks() const = 0;
  virtual bool has_embedding(int chunk) const = 0;
  virtual bool has_head(int chunk) const = 0;
  // `x` [batch*seq, d_model] is the previous chunk's output (ignored by the embedding chunk);
  // tokens and targets must stay valid until the slot's backward. Returns the head's loss.
  virtual float ForwardChunk(int chunk, int slot, const int32_t* tokens, const int32_t* targets,
                             int64_t batch, int64_t seq, const float* x) = 0;
  virtual const float* Output(int chunk, int slot) const = 0;  // [batch*seq, d_model]
  // `dy`: the gradient of Output (ignored by the head chunk, which starts from its loss).
  virtual void BackwardChunk(int chunk, int slot, const float* dy, float loss_scale,
                             const GradsReady& ready = {}) = 0;
  virtual const float* InputGrad(int chunk, int slot) const = 0;  // chunks without embedding

  // ---- the head's outputs, of the last head forward in `slot` ----
  // Logits [rows, local_vocab] hold vocabulary columns [vocab_begin, vocab_begin + local_vocab).
  virtual int64_t vocab_begin() const = 0;
  virtual int64_t local_vocab() const = 0;
  virtual const float* logits(int slot = 0) const = 0;
  virtual const float* probs(int slot = 0) const = 0;
  // Arg-max over the whole vocabulary per row (when predictions are on).
  virtual const int32_t* predictions(int slot = 0) const = 0;
  virtual void set_predict(bool on) = 0;  // every tp rank must set the same
  virtual int64_t counted(int slot = 0) const = 0;

  // ---- decoding ----
  // The logits [vocab_size] of the token after `context` (n tokens, n <= seq_len), for a
  // whole model. The default runs the full forward; a family with a KV cache overrides it.
  virtual std::vector<float> NextTokenLogits(const int32_t* context, int64_t n);
};

}  // namespace mt::nn
