// GELU, tanh form, on the GPU: the twin of runtime/kernels/cpu/gelu.h (backward accumulates).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchGeluForward(float* out, const float* inp, int64_t n, cudaStream_t stream);
// dinp += dout * gelu'(inp)
cudaError_t LaunchGeluBackward(float* dinp, const float* inp, const float* dout, int64_t n,
                               cudaStream_t stream);

}  // namespace mt::cuda
