// The GPT of runtime/nn/gpt.h on one CUDA device (llm.c style: explicit forward and backward
// over our kernels). Same parameters - names, order and initial values are copied from a host
// Gpt - kept as fp32 master weights with fp32 gradients and AdamW moments, so checkpoints and
// the CPU model stay interchangeable. With `bf16` (the default) every linear layer and the LM
// head run as cuBLAS bf16 GEMMs with fp32 accumulation and output: inputs are cast to bf16 as
// they are produced, weights keep a bf16 copy that AdamW writes alongside the master. Without
// it the GEMMs are fp32 and the model is the CPU model's twin to rounding (the gpu test).
//
// Whole model on one device (tp = pp = 1). A step:
//   ZeroGrad(); Forward(tokens, targets) per micro-batch, each followed by Backward(1/micro);
//   GradNormSquared() for clipping; Update(adamw).
// All work is queued on one stream; Forward returns the loss, which synchronises.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/kernels/cuda/blas.h"
#include "runtime/nn/cuda/device_net.h"
#include "runtime/nn/gpt.h"

namespace mt::nn::cuda {

struct CudaGptOptions {
  bool bf16 = true;  // bf16 GEMMs (fp32 accumulate); false: fp32 GEMMs
};

class CudaGpt {
 public:
  // Uploads `host`'s parameters (a whole model: tp = pp = 1; to resume, load the checkpoint
  // into `host` first) and allocates activations for
  // batches of up to `max_batch` sequences of up to `max_seq` tokens. InvalidArgument for a
  // partitioned host model, ResourceExhausted when the device memory does not suffice.
  static absl::StatusOr<std::unique_ptr<CudaGpt>> Create(Gpt& host, int64_t max_batch,
                                                         int64_t max_seq, CudaGptOptions o = {});
  ~CudaGpt();
  CudaGpt(const CudaGpt&) = delete;
  CudaGpt& operator=(const CudaGpt&) = delete;

  // tokens and targets are host arrays [batch, seq]; targets < 0 are not counted. Returns the
  // mean cross-entropy over counted positions (0 when none).
  absl::StatusOr<float> Forward(const int32_t* tokens, const int32_t* targets, int64_t batch,
                                int64_t seq);
  // Gradients += loss_scale * d(last Forward's mean loss)/d(parameter).
  absl::Status Backward(float loss_scale);
  absl::Status ZeroGrad();
  // Sum of squares of every gradient (fp64 accumulation), for global-norm clipping.
  absl::StatusOr<double> GradNormSquared();
  absl::Status Update(const AdamWStep& a);
  // Copies the device's parameter values (and gradients, if asked) into `host`, which must be
  // the model this one was created from (or one of the same config).
  absl::Status CopyTo(Gpt& host, bool grads) const;
  // The AdamW moments as host tensors parallel to the host model's parameters (what
  // optim::AdamW keeps and checkpoints save): copied out, or loaded (a resumed run).
  absl::Status CopyMomentsTo(std::vector<Tensor>& m, std::vector<Tensor>& v) const;
  absl::Status LoadMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v);
  absl::Status Synchronize() const;

  int64_t num_parameters() const { return total_; }
  const GptConfig& config() const { return config_; }
  bool bf16() const { return options_.bf16; }

 private:
  struct Param {
    std::string name;
    int64_t offset = 0, numel = 0;
    bool decay = false;
  };
  // Device views of one parameter.
  struct View {
    float* value;
    float* grad;
    const __nv_bfloat16* bf16;  // null without bf16
  };
  // A linear layer's input as the GEMMs need it.
  struct Input {
    const float* f32;
    __nv_bfloat16* bf16;  // filled by Linear (forward) and read again by LinearBackward
  };
  struct LayerActs;
  struct Buffers;

  CudaGpt(const GptConfig& config, CudaGptOptions options, mt::cuda::Blas blas,
          cudaStream_t stream);
  absl::Status Allocate(int64_t max_batch, int64_t max_seq);
  View P(size_t index) const;
  // m and v must be one tensor per parameter, each of its size.
  absl::Status CheckMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v) const;
  View BlockParam(int64_t layer, int which) const;  // `which` indexes Block::ParameterSuffixes()

  // out[rows, out_f] = in * W^T (+ b). Casts in.f32 into in.bf16 first (bf16 mode).
  absl::Status Linear(float* out, Input in, const View& w, const View* b, int64_t rows,
                      int64_t in_f, int64_t out_f);
  // dinp += dout * W (dinp may be null); dW += dout^T * in; db += column sums of dout.
  absl::Status LinearBackward(float* dinp, const View& w, const View* b, const float* dout,
                              Input in, int64_t rows, int64_t in_f, int64_t out_f);
  absl::Status BlockForward(int64_t layer, const float* x, float* y);
  absl::Status BlockBackward(int64_t layer, const float* x, const float* dy, float* dx);
  absl::Status HeadBackward(float loss_scale, float* dresidual);

  GptConfig config_;
  CudaGptOptions options_;
  std::optional<mt::cuda::Blas> blas_;  // reset before the stream it uses is destroyed
  cudaStream_t stream_ = nullptr;
  std::vector<Param> params_;
  int64_t total_ = 0;
  // Flat device arrays over every parameter, in params_ order.
  float *values_ = nullptr, *grads_ = nullptr, *m_ = nullptr, *v_ = nullptr;
  __nv_bfloat16* bf16_ = nullptr;
  std::unique_ptr<Buffers> buf_;
  std::vector<void*> allocations_;
  int64_t max_batch_ = 0, max_seq_ = 0;
  int64_t batch_ = 0, seq_ = 0, counted_ = 0;  // of the last Forward
  bool has_targets_ = false;
};

}  // namespace mt::nn::cuda
