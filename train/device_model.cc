// DeviceModel's entry points (see device_model.h): the CUDA model of device_model_cuda.cc (or
// the refusal of device_model_none.cc), unless a test installed a stand-in.
#include "train/device_model.h"

namespace mt::train {
namespace internal {  // defined by device_model_cuda.cc or device_model_none.cc
bool CudaBuilt();
absl::Status CudaCheckDevice();
absl::StatusOr<std::unique_ptr<DeviceModel>> CudaCreate(nn::Model& host, optim::AdamW& opt,
                                                        bool bf16, int64_t max_batch);
}  // namespace internal

namespace {
DeviceModel::Factory& TestFactory() {
  static auto* factory = new DeviceModel::Factory();
  return *factory;
}
}  // namespace

bool DeviceModel::Built() { return TestFactory() != nullptr || internal::CudaBuilt(); }

absl::Status DeviceModel::CheckDevice() {
  return TestFactory() != nullptr ? absl::OkStatus() : internal::CudaCheckDevice();
}

absl::StatusOr<std::unique_ptr<DeviceModel>> DeviceModel::Create(nn::Model& host, optim::AdamW& opt,
                                                                 bool bf16, int64_t max_batch) {
  if (TestFactory() != nullptr) return TestFactory()(host, opt, bf16, max_batch);
  return internal::CudaCreate(host, opt, bf16, max_batch);
}

void DeviceModel::SetFactoryForTesting(Factory factory) { TestFactory() = std::move(factory); }

}  // namespace mt::train
