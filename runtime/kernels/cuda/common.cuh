// Shared device helpers for the CUDA kernels: warp reductions and bf16 loads/stores.
// Device code only; launchers include this from .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace mt::cuda {

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block whose size is a multiple of 32 (<= 1024); every thread gets the result.
// `shared` holds 32 floats. Deterministic: fixed reduction tree.
__device__ __forceinline__ float BlockSum(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = WarpSum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  v = lane < warps ? shared[lane] : 0.0f;
  return WarpSum(v);
}

__device__ __forceinline__ float BlockMax(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  v = lane < warps ? shared[lane] : -INFINITY;
  return WarpMax(v);
}

inline int CeilDiv(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

}  // namespace mt::cuda
