// CUDA error domain: turns a failed CUDA runtime call into an absl::Status (see
// runtime/core/status.h for the pattern). C++ only: .cu files return cudaError_t to a C++
// caller, which checks it here, so device code never includes Abseil.
#pragma once

#include <cuda_runtime_api.h>

#include "runtime/core/status.h"

namespace mt::cuda {
inline bool CudaOk(cudaError_t e) { return e == cudaSuccess; }
inline const char* CudaText(cudaError_t e) { return cudaGetErrorString(e); }
}  // namespace mt::cuda

// MT_CUDA_CHECK(cudaMemcpy(...)); returns Internal "CUDA error 700 (an illegal memory access
// was encountered) in cudaMemcpy(...)" from the enclosing function on failure.
#define MT_CUDA_CHECK(expr)                                                \
  MT_DOMAIN_CHECK_("CUDA", expr, ::mt::cuda::CudaOk, ::mt::cuda::CudaText, \
                   absl::StatusCode::kInternal)
