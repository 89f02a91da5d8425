// cuBLAS GEMMs with the row-major convention of runtime/kernels/cpu/gemm.h, in fp32 and in
// bf16 (inputs bf16, fp32 accumulate and output). One Blas per stream; not thread-safe.
#pragma once

#include <cstdint>

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "absl/status/statusor.h"
#include "runtime/core/status.h"

namespace mt::cuda {

inline bool CublasOk(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline const char* CublasText(cublasStatus_t s) { return cublasGetStatusString(s); }

}  // namespace mt::cuda

// MT_CUBLAS_CHECK(cublasSgemm(...)); returns an Internal Status naming the call on failure.
#define MT_CUBLAS_CHECK(expr)                                                    \
  MT_DOMAIN_CHECK_("cuBLAS", expr, ::mt::cuda::CublasOk, ::mt::cuda::CublasText, \
                   absl::StatusCode::kInternal)

namespace mt::cuda {

class Blas {
 public:
  static absl::StatusOr<Blas> Create(cudaStream_t stream);
  Blas(Blas&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
  Blas& operator=(Blas&&) = delete;
  ~Blas();

  // C = alpha op(A) op(B) + beta C, row-major; op(A) is m x k, op(B) k x n, C m x n.
  absl::Status Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);
  // Same with bf16 A and B, fp32 C and fp32 accumulation.
  absl::Status GemmBF16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const __nv_bfloat16* a, int64_t lda, const __nv_bfloat16* b, int64_t ldb,
                        float beta, float* c, int64_t ldc);

 private:
  explicit Blas(cublasHandle_t handle) : handle_(handle) {}
  cublasHandle_t handle_ = nullptr;
};

}  // namespace mt::cuda
