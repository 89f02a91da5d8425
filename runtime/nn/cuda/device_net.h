// A model on one CUDA device, behind one interface whatever its family: what the trainer's
// device path (train/device_model) and the GPU benchmark drive. CreateDeviceNet uploads a host
// model (nn::Model, model.h) of a family that has a device implementation (the GPT: cuda_gpt.h)
// and keeps fp32 master weights, gradients and AdamW moments on the device.
//
// A step: ZeroGrad(); Forward + Backward(1/micro) per micro-batch; GradNormSquared() for
// clipping; Update(adamw). CopyTo and the moment copies move the state to and from the host
// model and optimizer (checkpoints, evaluation, the model file).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/nn/model.h"
#include "runtime/tensor/tensor.h"

namespace mt::nn::cuda {

// AdamW with decoupled weight decay (applied to parameters marked weight_decay only).
struct AdamWStep {
  float lr = 0, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0;
  int64_t step = 1;         // 1-based, for bias correction
  float grad_scale = 1.0f;  // global-norm clipping factor
};

class DeviceNet {
 public:
  virtual ~DeviceNet() = default;
  // tokens and targets are host arrays [batch, seq]; targets < 0 are not counted. Returns the
  // mean cross-entropy over counted positions (0 when none).
  virtual absl::StatusOr<float> Forward(const int32_t* tokens, const int32_t* targets,
                                        int64_t batch, int64_t seq) = 0;
  // Gradients += loss_scale * d(last Forward's mean loss)/d(parameter).
  virtual absl::Status Backward(float loss_scale) = 0;
  virtual absl::Status ZeroGrad() = 0;
  // Sum of squares of every gradient (fp64 accumulation), for global-norm clipping.
  virtual absl::StatusOr<double> GradNormSquared() = 0;
  virtual absl::Status Update(const AdamWStep& a) = 0;
  // The device's parameter values (and gradients, if asked) into `host`: the model this one
  // was created from, or one of the same family and sizes.
  virtual absl::Status CopyTo(Model& host, bool grads) const = 0;
  // The AdamW moments as host tensors parallel to the host model's parameters.
  virtual absl::Status CopyMomentsTo(std::vector<Tensor>& m, std::vector<Tensor>& v) const = 0;
  virtual absl::Status LoadMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v) = 0;
  virtual absl::Status Synchronize() const = 0;
  virtual int64_t num_parameters() const = 0;
};

// Uploads `host` (a whole model: tp = pp = 1) and allocates activations for batches of up to
// `max_batch` sequences of up to `max_seq` tokens; `bf16`: bf16 GEMMs with fp32 accumulation.
// Unimplemented for a family without a device implementation, InvalidArgument for a
// partitioned model, ResourceExhausted when the device memory does not suffice.
absl::StatusOr<std::unique_ptr<DeviceNet>> CreateDeviceNet(Model& host, int64_t max_batch,
                                                           int64_t max_seq, bool bf16);

}  // namespace mt::nn::cuda
