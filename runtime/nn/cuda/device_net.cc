// The device models by family (see device_net.h).
#include "runtime/nn/cuda/device_net.h"

#include <string>

#include "fmt/format.h"
#include "runtime/core/status.h"
#include "runtime/nn/cuda/cuda_gpt.h"

namespace mt::nn::cuda {
namespace {

// The GPT's device twin behind DeviceNet.
class GptNet final : public DeviceNet {
 public:
  explicit GptNet(std::unique_ptr<CudaGpt> gpu) : gpu_(std::move(gpu)) {}

  absl::StatusOr<float> Forward(const int32_t* tokens, const int32_t* targets, int64_t batch,
                                int64_t seq) override {
    return gpu_->Forward(tokens, targets, batch, seq);
  }
  absl::Status Backward(float loss_scale) override { return gpu_->Backward(loss_scale); }
  absl::Status ZeroGrad() override { return gpu_->ZeroGrad(); }
  absl::StatusOr<double> GradNormSquared() override { return gpu_->GradNormSquared(); }
  absl::Status Update(const AdamWStep& a) override { return gpu_->Update(a); }
  absl::Status CopyTo(Model& host, bool grads) const override {
    auto* gpt = dynamic_cast<Gpt*>(&host);
    if (gpt == nullptr) {
      return absl::InvalidArgumentError(
          fmt::format("a GPT on the device cannot copy into a {} model", host.family()));
    }
    return gpu_->CopyTo(*gpt, grads);
  }
  absl::Status CopyMomentsTo(std::vector<Tensor>& m, std::vector<Tensor>& v) const override {
    return gpu_->CopyMomentsTo(m, v);
  }
  absl::Status LoadMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v) override {
    return gpu_->LoadMoments(m, v);
  }
  absl::Status Synchronize() const override { return gpu_->Synchronize(); }
  int64_t num_parameters() const override { return gpu_->num_parameters(); }

 private:
  std::unique_ptr<CudaGpt> gpu_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DeviceNet>> CreateDeviceNet(Model& host, int64_t max_batch,
                                                           int64_t max_seq, bool bf16) {
  if (auto* gpt = dynamic_cast<Gpt*>(&host)) {
    CudaGptOptions o;
    o.bf16 = bf16;
    MT_ASSIGN_OR_RETURN(std::unique_ptr<CudaGpt> gpu, CudaGpt::Create(*gpt, max_batch, max_seq, o));
    return std::unique_ptr<DeviceNet>(new GptNet(std::move(gpu)));
  }
  return absl::UnimplementedError(
      fmt::format("model.arch: {} has no CUDA implementation yet; use device: cpu", host.family()));
}

}  // namespace mt::nn::cuda
