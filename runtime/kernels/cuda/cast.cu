// bf16 casts (see cast.h).
#include "runtime/kernels/cuda/cast.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

// ---- kernels ----
__global__ void ToBF16Kernel(__nv_bfloat16* out, const float* inp, int64_t n) {
  MT_GRID_STRIDE(i, n) { out[i] = __float2bfloat16_rn(inp[i]); }
}

__global__ void ToF32Kernel(float* out, const __nv_bfloat16* inp, int64_t n) {
  MT_GRID_STRIDE(i, n) { out[i] = __bfloat162float(inp[i]); }
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchCastToBF16(__nv_bfloat16* out, const float* inp, int64_t n, cudaStream_t s) {
  MT_CHECK_COUNT(n);
  ToBF16Kernel<<<ElementwiseGrid(n), kElementwiseThreads, 0, s>>>(out, inp, n);
  return cudaGetLastError();
}

cudaError_t LaunchCastToF32(float* out, const __nv_bfloat16* inp, int64_t n, cudaStream_t s) {
  MT_CHECK_COUNT(n);
  ToF32Kernel<<<ElementwiseGrid(n), kElementwiseThreads, 0, s>>>(out, inp, n);
  return cudaGetLastError();
}

}  // namespace mt::cuda
