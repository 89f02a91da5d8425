// Launch helpers shared by the CUDA launchers: block size, grid cap, grid-stride loop.
#pragma once

#include <cstdint>

#include "runtime/kernels/cuda/common.cuh"

namespace mt::cuda {

constexpr int kElementwiseThreads = 256;

// Blocks for n elements, capped so huge tensors use the grid-stride loop instead.
inline int ElementwiseGrid(int64_t n) {
  const int blocks = CeilDiv(n, kElementwiseThreads);
  return blocks < 65535 ? blocks : 65535;
}

}  // namespace mt::cuda

#define MT_GRID_STRIDE(i, n)                                                \
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t{blockDim.x} * gridDim.x)

// Launchers return cudaSuccess for n == 0 and cudaErrorInvalidValue for n < 0.
#define MT_CHECK_COUNT(n) \
  if ((n) <= 0) return (n) == 0 ? cudaSuccess : cudaErrorInvalidValue
