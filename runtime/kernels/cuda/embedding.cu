// Embedding kernels (see embedding.h).
#include "runtime/kernels/cuda/embedding.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

// ---- kernels ----
__global__ void ForwardKernel(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                              int64_t rows, int64_t seq, int64_t c) {
  MT_GRID_STRIDE(i, rows * c) {
    const int64_t r = i / c, ch = i % c;
    out[i] = wte[int64_t{tokens[r]} * c + ch] + wpe[(r % seq) * c + ch];
  }
}

// Thread per channel: adds every position's gradient into its token's row, in position order.
__global__ void TokenBackwardKernel(float* dwte, const float* dout, const int32_t* tokens,
                                    int64_t rows, int64_t c) {
  const int64_t ch = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  for (int64_t r = 0; r < rows; ++r) dwte[int64_t{tokens[r]} * c + ch] += dout[r * c + ch];
}

// Thread per (position, channel): sums over the batch.
__global__ void PositionBackwardKernel(float* dwpe, const float* dout, int64_t batch, int64_t seq,
                                       int64_t c) {
  MT_GRID_STRIDE(i, seq * c) {
    float s = 0.0f;
    for (int64_t b = 0; b < batch; ++b) s += dout[b * seq * c + i];
    dwpe[i] += s;
  }
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchEmbeddingForward(float* out, const int32_t* tokens, const float* wte,
                                   const float* wpe, int64_t batch, int64_t seq, int64_t c,
                                   cudaStream_t s) {
  MT_CHECK_COUNT(batch * seq * c);
  ForwardKernel<<<ElementwiseGrid(batch * seq * c), kElementwiseThreads, 0, s>>>(
      out, tokens, wte, wpe, batch * seq, seq, c);
  return cudaGetLastError();
}

cudaError_t LaunchEmbeddingBackward(float* dwte, float* dwpe, const float* dout,
                                    const int32_t* tokens, int64_t batch, int64_t seq, int64_t c,
                                    cudaStream_t s) {
  MT_CHECK_COUNT(batch * seq * c);
  TokenBackwardKernel<<<CeilDiv(c, 128), 128, 0, s>>>(dwte, dout, tokens, batch * seq, c);
  if (dwpe != nullptr) {
    PositionBackwardKernel<<<ElementwiseGrid(seq * c), kElementwiseThreads, 0, s>>>(dwpe, dout,
                                                                                    batch, seq, c);
  }
  return cudaGetLastError();
}

}  // namespace mt::cuda
