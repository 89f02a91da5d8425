// Cross-entropy kernels (see cross_entropy.h).
#include "runtime/kernels/cuda/cross_entropy.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

constexpr int kThreads = 256;

// ---- kernels ----
__global__ void ForwardKernel(float* losses, float* probs, const float* logits,
                              const int32_t* targets, int64_t vocab) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const float* z = logits + row * vocab;
  float* p = probs + row * vocab;
  float max = -INFINITY;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) max = fmaxf(max, z[v]);
  max = BlockMax(max, shared);
  float sum = 0.0f;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) sum += (p[v] = expf(z[v] - max));
  sum = BlockSum(sum, shared);
  const float inv = 1.0f / sum;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) p[v] *= inv;
  if (threadIdx.x == 0) {
    const int32_t t = targets[row];
    losses[row] = t < 0 ? 0.0f : logf(sum) + max - z[t];
  }
}

__global__ void BackwardKernel(float* dlogits, const float* probs, const int32_t* targets,
                               float dloss, int64_t vocab) {
  const int64_t row = blockIdx.x;
  const int32_t t = targets[row];
  if (t < 0) return;
  for (int64_t v = threadIdx.x; v < vocab; v += blockDim.x) {
    dlogits[row * vocab + v] += (probs[row * vocab + v] - (v == t ? 1.0f : 0.0f)) * dloss;
  }
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchCrossEntropyForward(float* losses, float* probs, const float* logits,
                                      const int32_t* targets, int64_t rows, int64_t vocab,
                                      cudaStream_t s) {
  MT_CHECK_COUNT(rows);
  if (vocab <= 0 || rows > 2147483647) return cudaErrorInvalidValue;
  ForwardKernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(losses, probs, logits, targets,
                                                                 vocab);
  return cudaGetLastError();
}

cudaError_t LaunchCrossEntropyBackward(float* dlogits, const float* probs, const int32_t* targets,
                                       float dloss, int64_t rows, int64_t vocab, cudaStream_t s) {
  MT_CHECK_COUNT(rows);
  if (vocab <= 0 || rows > 2147483647) return cudaErrorInvalidValue;
  BackwardKernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(dlogits, probs, targets, dloss,
                                                                  vocab);
  return cudaGetLastError();
}

}  // namespace mt::cuda
