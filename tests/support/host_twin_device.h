// A stand-in for the GPU in the trainer's device path (train/device_model.h), so CI
// tests that path on machines without one: a second host model and optimizer play the device.
// Create copies the host's values, moments and step into them (as the CUDA model uploads),
// Step trains them exactly as ParallelModel's host step trains one process, and SyncHost copies
// values (and moments) back (as the CUDA model downloads). A device run with the twin therefore
// equals the CPU run bit for bit exactly when the trainer creates the device model from the
// right state and syncs before every reader of the host copy.
#pragma once

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "train/device_model.h"

namespace mt::testing {

class HostTwinDevice final : public train::DeviceModel {
 public:
  // Steps taken by every twin since the factory was installed (a test checks the twin ran).
  static std::atomic<int>& steps() {
    static std::atomic<int> n{0};
    return n;
  }

  static absl::StatusOr<std::unique_ptr<DeviceModel>> Create(nn::Model& host, optim::AdamW& opt,
                                                             bool /*bf16*/, int64_t /*max*/) {
    auto twin = host.NewWhole(0);
    if (!twin.ok()) return twin.status();
    std::unique_ptr<HostTwinDevice> d(new HostTwinDevice(host, opt, std::move(*twin)));
    Copy(host.Parameters(), d->twin_->Parameters());
    CopyTensors(opt.m(), d->twin_opt_.m());
    CopyTensors(opt.v(), d->twin_opt_.v());
    d->twin_opt_.set_step(opt.step());
    return std::unique_ptr<DeviceModel>(std::move(d));
  }

  absl::StatusOr<train::StepResult> Step(const std::vector<train::Batch>& micro,
                                         double lr) override {
    ++steps();
    train::StepResult r;
    twin_->ZeroGrad();
    const float scale = 1.0f / static_cast<float>(micro.size());
    for (const train::Batch& b : micro) {
      r.loss += twin_->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq) * scale;
      twin_->Backward(scale);
    }
    const std::vector<double> ones(twin_->Parameters().size(), 1.0);
    const double norm = std::sqrt(twin_opt_.SquaredNorm(ones));
    if (!std::isfinite(r.loss)) {
      r.stats.finite = false;
      r.stats.grad_norm = norm;
      return r;
    }
    r.stats = twin_opt_.Step(lr, norm);
    opt_.set_step(twin_opt_.step());
    return r;
  }

  absl::Status SyncHost(bool optimizer) override {
    Copy(twin_->Parameters(), host_.Parameters());
    if (optimizer) {
      CopyTensors(twin_opt_.m(), opt_.m());
      CopyTensors(twin_opt_.v(), opt_.v());
    }
    return absl::OkStatus();
  }

 private:
  HostTwinDevice(nn::Model& host, optim::AdamW& opt, std::unique_ptr<nn::Model> twin)
      : host_(host),
        opt_(opt),
        twin_(std::move(twin)),
        twin_opt_(twin_->Parameters(), opt.config()) {
    twin_->set_predict(false);
  }
  static void Copy(const std::vector<nn::Parameter*>& from, const std::vector<nn::Parameter*>& to) {
    for (size_t i = 0; i < from.size(); ++i) {
      std::memcpy(to[i]->value.Data<float>(), from[i]->value.Data<float>(),
                  from[i]->value.numel() * sizeof(float));
    }
  }
  static void CopyTensors(std::vector<Tensor>& from, std::vector<Tensor>& to) {
    for (size_t i = 0; i < from.size(); ++i) {
      std::memcpy(to[i].Data<float>(), from[i].Data<float>(), from[i].numel() * sizeof(float));
    }
  }

  nn::Model& host_;
  optim::AdamW& opt_;
  std::unique_ptr<nn::Model> twin_;
  optim::AdamW twin_opt_;
};

// Installs the twin for a test's lifetime.
class ScopedHostTwinDevice {
 public:
  ScopedHostTwinDevice() {
    HostTwinDevice::steps() = 0;
    train::DeviceModel::SetFactoryForTesting(&HostTwinDevice::Create);
  }
  ~ScopedHostTwinDevice() { train::DeviceModel::SetFactoryForTesting(nullptr); }
};

}  // namespace mt::testing
