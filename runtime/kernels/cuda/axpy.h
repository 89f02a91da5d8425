// y <- a * x + y on the GPU (gradient accumulation, SGD-style updates).
// Launcher contract: x and y are device pointers to n floats; runs on `stream`; returns the
// launch status (kernel faults surface at the next synchronising call).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchAxpy(float a, const float* x, float* y, int64_t n, cudaStream_t stream);

}  // namespace mt::cuda
