// bf16 <-> f32 conversion on the GPU (round to nearest even, as mt::F32ToBF16 on the host):
// bf16 compute keeps fp32 master weights and casts them before each forward.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace mt::cuda {

cudaError_t LaunchCastToBF16(__nv_bfloat16* out, const float* inp, int64_t n, cudaStream_t stream);
cudaError_t LaunchCastToF32(float* out, const __nv_bfloat16* inp, int64_t n, cudaStream_t stream);

}  // namespace mt::cuda
