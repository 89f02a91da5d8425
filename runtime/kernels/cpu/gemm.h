// Single-precision GEMM on the CPU through the BLAS provider (OpenBLAS), plus the facts needed
// to tell whether that provider runs at a sane rate on this CPU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mt::cpu {

// C = alpha * op(A) * op(B) + beta * C, all row-major; op(X) = X^T when trans_X.
// op(A) is M x K, op(B) is K x N, C is M x N. Blocks; thread count is the provider's.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

struct GemmProviderInfo {
  std::string name;  // "OpenBLAS 0.3.21 ..."
  std::string core;  // the kernel set the provider picked, e.g. "SkylakeX", "Prescott"
  int threads = 1;
};
GemmProviderInfo GemmInfo();

// Threads for GEMM (OpenBLAS) and the OpenMP loops of the other kernels. Launchers that put
// several ranks on one machine call it so the ranks do not oversubscribe the cores.
void SetCpuThreads(int threads);

// A warning when the provider runs a generic kernel set on a CPU with AVX2/AVX-512 (Debian's
// OpenBLAS falls back to Prescott kernels on CPUs it does not know; OPENBLAS_CORETYPE fixes it).
std::optional<std::string> GemmWarning();

// Measured GFLOP/s of Gemm(false, true) at m x n x k, timed for about `seconds`; also checks one
// output element against a direct dot product and returns nullopt if it is wrong.
std::optional<double> MeasureGemmGflops(int64_t m, int64_t n, int64_t k, double seconds);

}  // namespace mt::cpu
