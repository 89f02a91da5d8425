// DeviceModel over runtime/nn/cuda's DeviceNet (see device_model.h). Built with CUDA only.
#include <cmath>
#include <string>

#include "fmt/format.h"
#include "runtime/core/status.h"
#include "runtime/kernels/cuda/device.h"
#include "runtime/nn/cuda/device_net.h"
#include "train/device_model.h"

namespace mt::train {
namespace {

class CudaDeviceModel final : public DeviceModel {
 public:
  CudaDeviceModel(std::unique_ptr<nn::cuda::DeviceNet> gpu, nn::Model& host, optim::AdamW& opt)
      : gpu_(std::move(gpu)), host_(host), opt_(opt) {}

  absl::StatusOr<StepResult> Step(const std::vector<Batch>& micro, double lr) override {
    StepResult r;
    MT_RETURN_IF_ERROR(gpu_->ZeroGrad());
    const float scale = 1.0f / static_cast<float>(micro.size());
    for (const Batch& b : micro) {
      MT_ASSIGN_OR_RETURN(const float loss,
                          gpu_->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq));
      r.loss += loss * scale;
      MT_RETURN_IF_ERROR(gpu_->Backward(scale));
    }
    MT_ASSIGN_OR_RETURN(const double squares, gpu_->GradNormSquared());
    // As the host step: a non-finite loss or norm changes nothing.
    r.stats = optim::ClipStats(std::sqrt(squares), opt_.config().clip);
    if (!std::isfinite(r.loss)) r.stats = {r.stats.grad_norm, 1.0, false};
    if (!r.stats.finite) return r;
    const int64_t step = opt_.step() + 1;
    const cpu::AdamWParams a =
        optim::UpdateParams(opt_.config(), lr, /*decay=*/true, step, r.stats.clip_scale);
    // Weight decay goes only to parameters marked for it (the device model knows which).
    MT_RETURN_IF_ERROR(
        gpu_->Update({a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step, a.grad_scale}));
    opt_.set_step(step);  // the host optimizer counts the device's updates
    values_current_ = moments_current_ = false;
    return r;
  }

  absl::Status SyncHost(bool optimizer) override {
    if (!values_current_) {
      MT_RETURN_IF_ERROR(gpu_->CopyTo(host_, /*grads=*/false));
      values_current_ = true;
    }
    if (optimizer && !moments_current_) {
      MT_RETURN_IF_ERROR(gpu_->CopyMomentsTo(opt_.m(), opt_.v()));
      moments_current_ = true;
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<nn::cuda::DeviceNet> gpu_;
  nn::Model& host_;
  optim::AdamW& opt_;
  bool values_current_ = true, moments_current_ = true;  // the host copy, since the last Step
};

}  // namespace

namespace internal {

bool CudaBuilt() { return true; }

absl::Status CudaCheckDevice() {
  auto count = cuda::DeviceCount();
  if (!count.ok()) {
    return absl::FailedPreconditionError(fmt::format("device: cuda: cannot count CUDA devices ({})",
                                                     std::string(count.status().message())));
  }
  if (*count == 0) {
    return absl::FailedPreconditionError(
        "device: cuda: no CUDA device is visible to this process (CUDA_VISIBLE_DEVICES, driver, "
        "or a machine without a GPU); use device: cpu");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DeviceModel>> CudaCreate(nn::Model& host, optim::AdamW& opt,
                                                        bool bf16, int64_t max_batch) {
  MT_RETURN_IF_ERROR(CudaCheckDevice());
  auto gpu = nn::cuda::CreateDeviceNet(host, max_batch, host.dims().seq_len, bf16);
  if (!gpu.ok()) return Annotate(gpu.status(), "device: cuda");
  MT_RETURN_IF_ERROR(Annotate((*gpu)->LoadMoments(opt.m(), opt.v()), "device: cuda"));
  return std::unique_ptr<DeviceModel>(new CudaDeviceModel(std::move(*gpu), host, opt));
}

}  // namespace internal
}  // namespace mt::train
