// CPU GEMM via OpenBLAS's CBLAS interface (see gemm.h). Measured on this machine class
// (bench/RESULTS.md): OpenBLAS and oneDNN are within noise of each other on the model's GEMM
// shapes, BLIS is about half; OpenBLAS is used, with a start-up check of its kernel choice.
#include "runtime/kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string_view>
#include <vector>

#include "fmt/format.h"

extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}

namespace mt::cpu {

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

GemmProviderInfo GemmInfo() {
  GemmProviderInfo info;
  info.name = openblas_get_config();
  info.core = openblas_get_corename();
  info.threads = openblas_get_num_threads();
  return info;
}

void SetCpuThreads(int threads) {
  threads = std::max(1, threads);
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
}

std::optional<std::string> GemmWarning() {
  const std::string core = openblas_get_corename();
  static constexpr std::string_view kGeneric[] = {"Prescott", "Core2", "Nehalem",   "Katmai",
                                                  "Banias",   "Atom",  "Dunnington"};
  bool generic = false;
  for (std::string_view g : kGeneric) generic = generic || core == g;
  __builtin_cpu_init();
  const bool wide = __builtin_cpu_supports("avx2") || __builtin_cpu_supports("avx512f");
  if (!generic || !wide) return std::nullopt;
  return fmt::format(
      "OpenBLAS uses generic '{}' kernels on a CPU with {}: GEMM will run several times below "
      "the FMA rate. Set OPENBLAS_CORETYPE={} before starting meshtrain.",
      core, __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2",
      __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell");
}

std::optional<double> MeasureGemmGflops(int64_t m, int64_t n, int64_t k, double seconds) {
  std::vector<float> a(m * k), b(n * k), c(m * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.37f * i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(0.11f * i);
  Gemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  double ref = 0;
  for (int64_t i = 0; i < k; ++i) ref += double(a[i]) * b[i];
  if (std::fabs(ref - c[0]) > 1e-3 * (1 + std::fabs(ref))) return std::nullopt;
  int iters = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    Gemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    ++iters;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * m * n * k * iters / elapsed / 1e9;
}

}  // namespace mt::cpu
