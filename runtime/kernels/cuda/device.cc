// CUDA device discovery (see device.h).
#include "runtime/kernels/cuda/device.h"

#include "absl/strings/str_format.h"
#include "runtime/kernels/cuda/cuda_check.h"

namespace mt::cuda {

absl::StatusOr<int> DeviceCount() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  MT_CUDA_CHECK(e);
  return count;
}

absl::StatusOr<std::string> DeviceName(int index) {
  cudaDeviceProp prop{};
  MT_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return absl::StrFormat("%s (sm_%d%d, %.1f GiB)", prop.name, prop.major, prop.minor,
                         prop.totalGlobalMem / double(1ull << 30));
}

}  // namespace mt::cuda
