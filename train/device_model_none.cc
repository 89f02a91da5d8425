// DeviceModel in a build without CUDA (see device_model.h): every use is refused.
#include "train/device_model.h"

namespace mt::train::internal {

bool CudaBuilt() { return false; }

absl::Status CudaCheckDevice() {
  return absl::FailedPreconditionError(
      "device: cuda: this meshtrain was built without CUDA (no nvcc when it was configured); "
      "use device: cpu");
}

absl::StatusOr<std::unique_ptr<DeviceModel>> CudaCreate(nn::Model&, optim::AdamW&, bool, int64_t) {
  return CudaCheckDevice();
}

}  // namespace mt::train::internal
