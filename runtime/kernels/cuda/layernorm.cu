// LayerNorm kernels (see layernorm.h). One warp per row for the row-wise passes; one thread per
// column for the weight/bias gradient sums.
#include "runtime/kernels/cuda/launch.cuh"
#include "runtime/kernels/cuda/layernorm.h"

namespace mt::cuda {
namespace {

constexpr float kEps = 1e-5f;
constexpr int kWarpsPerBlock = 8;

// ---- kernels ----
__global__ void ForwardKernel(float* out, float* mean, float* rstd, const float* inp,
                              const float* w, const float* b, int64_t rows, int64_t c) {
  const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* x = inp + row * c;
  float s = 0.0f;
  for (int64_t i = lane; i < c; i += 32) s += x[i];
  const float m = WarpSum(s) / c;
  float v = 0.0f;
  for (int64_t i = lane; i < c; i += 32) v += (x[i] - m) * (x[i] - m);
  const float r = rsqrtf(WarpSum(v) / c + kEps);
  float* y = out + row * c;
  for (int64_t i = lane; i < c; i += 32) y[i] = (x[i] - m) * r * w[i] + b[i];
  if (lane == 0) mean[row] = m, rstd[row] = r;
}

__global__ void BackwardInputKernel(float* dinp, const float* dout, const float* inp,
                                    const float* w, const float* mean, const float* rstd,
                                    int64_t rows, int64_t c) {
  const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* x = inp + row * c;
  const float* dy = dout + row * c;
  const float m = mean[row], r = rstd[row];
  float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
  for (int64_t i = lane; i < c; i += 32) {
    const float dnorm = dy[i] * w[i];
    dnorm_mean += dnorm;
    dnorm_norm_mean += dnorm * (x[i] - m) * r;
  }
  dnorm_mean = WarpSum(dnorm_mean) / c;
  dnorm_norm_mean = WarpSum(dnorm_norm_mean) / c;
  float* dx = dinp + row * c;
  for (int64_t i = lane; i < c; i += 32) {
    const float norm = (x[i] - m) * r;
    dx[i] += r * (dy[i] * w[i] - dnorm_mean - norm * dnorm_norm_mean);
  }
}

__global__ void BackwardParamsKernel(float* dw, float* db, const float* dout, const float* inp,
                                     const float* mean, const float* rstd, int64_t rows,
                                     int64_t c) {
  const int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= c) return;
  float sw = 0.0f, sb = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {  // adjacent threads read adjacent columns: coalesced
    const float dy = dout[r * c + i];
    sw += dy * (inp[r * c + i] - mean[r]) * rstd[r];
    sb += dy;
  }
  dw[i] += sw;
  db[i] += sb;
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchLayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                   const float* w, const float* b, int64_t rows, int64_t c,
                                   cudaStream_t s) {
  MT_CHECK_COUNT(rows);
  if (c <= 0) return cudaErrorInvalidValue;
  ForwardKernel<<<CeilDiv(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, s>>>(out, mean, rstd, inp,
                                                                              w, b, rows, c);
  return cudaGetLastError();
}

cudaError_t LaunchLayerNormBackward(float* dinp, float* dw, float* db, const float* dout,
                                    const float* inp, const float* w, const float* mean,
                                    const float* rstd, int64_t rows, int64_t c, cudaStream_t s) {
  MT_CHECK_COUNT(rows);
  if (c <= 0) return cudaErrorInvalidValue;
  BackwardInputKernel<<<CeilDiv(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, s>>>(
      dinp, dout, inp, w, mean, rstd, rows, c);
  BackwardParamsKernel<<<CeilDiv(c, 256), 256, 0, s>>>(dw, db, dout, inp, mean, rstd, rows, c);
  return cudaGetLastError();
}

}  // namespace mt::cuda
