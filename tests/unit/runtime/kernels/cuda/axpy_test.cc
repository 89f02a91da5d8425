// The CUDA axpy kernel against its CPU twin, over sizes that cover empty, tiny, odd and
// multi-grid-stride inputs. Bitwise equality: both sides compute one fmaf per element.
#include "runtime/kernels/cuda/axpy.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/kernels/cuda/cuda_check.h"

namespace mt::cuda {
namespace {

absl::Status RunAxpy(float a, const std::vector<float>& x, std::vector<float>* y) {
  const size_t bytes = x.size() * sizeof(float);
  float *dx = nullptr, *dy = nullptr;
  MT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&dx), bytes + 1));
  MT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&dy), bytes + 1));
  MT_CUDA_CHECK(cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice));
  MT_CUDA_CHECK(cudaMemcpy(dy, y->data(), bytes, cudaMemcpyHostToDevice));
  MT_CUDA_CHECK(LaunchAxpy(a, dx, dy, static_cast<int64_t>(x.size()), nullptr));
  MT_CUDA_CHECK(cudaMemcpy(y->data(), dy, bytes, cudaMemcpyDeviceToHost));
  MT_CUDA_CHECK(cudaFree(dx));
  MT_CUDA_CHECK(cudaFree(dy));
  return absl::OkStatus();
}

TEST(CudaAxpy, MatchesCpuTwin) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{(1 << 20) + 3}, size_t{5000000}}) {
    std::vector<float> x(n), y(n), expected(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = std::sin(0.001f * i);
      y[i] = std::cos(0.002f * i);
      expected[i] = std::fmaf(-1.5f, x[i], y[i]);
    }
    ASSERT_TRUE(RunAxpy(-1.5f, x, &y).ok()) << n;
    size_t wrong = 0;
    for (size_t i = 0; i < n; ++i) wrong += y[i] != expected[i];
    EXPECT_EQ(wrong, 0u) << "n=" << n;
  }
}

TEST(CudaAxpy, RejectsBadArguments) {
  EXPECT_EQ(LaunchAxpy(1.0f, nullptr, nullptr, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchAxpy(1.0f, nullptr, nullptr, -1, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchAxpy(1.0f, nullptr, nullptr, 0, nullptr), cudaSuccess);
}

}  // namespace
}  // namespace mt::cuda
