// CUDA device discovery. Safe to call on machines without a GPU or driver.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace mt::cuda {

// Number of visible CUDA devices; 0 (not an error) when there is no device or no driver.
absl::StatusOr<int> DeviceCount();

// "NVIDIA H200 (sm_90, 139.8 GiB)" for device `index`.
absl::StatusOr<std::string> DeviceName(int index);

}  // namespace mt::cuda
