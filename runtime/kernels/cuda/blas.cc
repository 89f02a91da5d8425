// cuBLAS wrapper (see blas.h). Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T,
// so each call swaps the operands and the m/n sizes.
#include "runtime/kernels/cuda/blas.h"

namespace mt::cuda {

absl::StatusOr<Blas> Blas::Create(cudaStream_t stream) {
  cublasHandle_t handle = nullptr;
  MT_CUBLAS_CHECK(cublasCreate(&handle));
  Blas blas(handle);
  MT_CUBLAS_CHECK(cublasSetStream(handle, stream));
  return blas;
}

Blas::~Blas() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

absl::Status Blas::Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc) {
  if (m == 0 || n == 0) return absl::OkStatus();
  MT_CUBLAS_CHECK(cublasSgemm(
      handle_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b,
      static_cast<int>(ldb), a, static_cast<int>(lda), &beta, c, static_cast<int>(ldc)));
  return absl::OkStatus();
}

absl::Status Blas::GemmBF16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const __nv_bfloat16* a, int64_t lda,
                            const __nv_bfloat16* b, int64_t ldb, float beta, float* c,
                            int64_t ldc) {
  if (m == 0 || n == 0) return absl::OkStatus();
  MT_CUBLAS_CHECK(cublasGemmEx(
      handle_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha, b, CUDA_R_16BF,
      static_cast<int>(ldb), a, CUDA_R_16BF, static_cast<int>(lda), &beta, c, CUDA_R_32F,
      static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

}  // namespace mt::cuda
