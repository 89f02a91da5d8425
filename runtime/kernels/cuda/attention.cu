// Attention kernels (see attention.h). A "row" is one (batch, head, position) triple; each is
// handled by one warp, lanes striding over key positions or head dimensions.
#include "runtime/kernels/cuda/attention.h"
#include "runtime/kernels/cuda/launch.cuh"

namespace mt::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

struct Dims {
  int64_t batch, seq, heads, hs;
  __device__ int64_t C() const { return heads * hs; }
};

// Pointer to head h of position t of batch b inside the Q (part 0), K (1) or V (2) block.
__device__ __forceinline__ const float* Part(const float* qkv, const Dims& d, int64_t b, int64_t t,
                                             int64_t h, int part) {
  return qkv + (b * d.seq + t) * 3 * d.C() + part * d.C() + h * d.hs;
}

// ---- kernels ----
__global__ void ForwardKernel(float* out, float* att, const float* qkv, Dims d, float scale) {
  const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= d.batch * d.heads * d.seq) return;
  const int64_t t = row % d.seq, h = row / d.seq % d.heads, b = row / (d.seq * d.heads);
  const float* q = Part(qkv, d, b, t, h, 0);
  float* a = att + row * d.seq;
  float max = -INFINITY;
  for (int64_t t2 = lane; t2 <= t; t2 += 32) {
    const float* k = Part(qkv, d, b, t2, h, 1);
    float s = 0.0f;
    for (int64_t i = 0; i < d.hs; ++i) s += q[i] * k[i];
    a[t2] = s * scale;
    max = fmaxf(max, a[t2]);
  }
  max = WarpMax(max);
  float sum = 0.0f;
  for (int64_t t2 = lane; t2 <= t; t2 += 32) sum += (a[t2] = __expf(a[t2] - max));
  const float inv = 1.0f / WarpSum(sum);
  for (int64_t t2 = lane; t2 < d.seq; t2 += 32) a[t2] = t2 <= t ? a[t2] * inv : 0.0f;
  __syncwarp();
  float* o = out + (b * d.seq + t) * d.C() + h * d.hs;
  for (int64_t i = lane; i < d.hs; i += 32) {
    float acc = 0.0f;
    for (int64_t t2 = 0; t2 <= t; ++t2) acc += a[t2] * Part(qkv, d, b, t2, h, 2)[i];
    o[i] = acc;
  }
}

// Per query row: dpre[t, t2] = att * (datt - sum(att * datt)) * scale; dq += dpre . K.
__global__ void BackwardRowKernel(float* dqkv, float* dpre, const float* dout, const float* qkv,
                                  const float* att, Dims d, float scale) {
  const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= d.batch * d.heads * d.seq) return;
  const int64_t t = row % d.seq, h = row / d.seq % d.heads, b = row / (d.seq * d.heads);
  const float* dy = dout + (b * d.seq + t) * d.C() + h * d.hs;
  const float* a = att + row * d.seq;
  float* p = dpre + row * d.seq;
  float dot = 0.0f;
  for (int64_t t2 = lane; t2 <= t; t2 += 32) {
    const float* v = Part(qkv, d, b, t2, h, 2);
    float s = 0.0f;
    for (int64_t i = 0; i < d.hs; ++i) s += dy[i] * v[i];
    p[t2] = s;  // datt for now
    dot += a[t2] * s;
  }
  dot = WarpSum(dot);
  for (int64_t t2 = lane; t2 < d.seq; t2 += 32)
    p[t2] = t2 <= t ? a[t2] * (p[t2] - dot) * scale : 0.0f;
  __syncwarp();
  float* dq = dqkv + (b * d.seq + t) * 3 * d.C() + h * d.hs;
  for (int64_t i = lane; i < d.hs; i += 32) {
    float acc = 0.0f;
    for (int64_t t2 = 0; t2 <= t; ++t2) acc += p[t2] * Part(qkv, d, b, t2, h, 1)[i];
    dq[i] += acc;
  }
}

// Per key row t2: dk += sum_t dpre[t, t2] q[t]; dv += sum_t att[t, t2] dout[t].
__global__ void BackwardColumnKernel(float* dqkv, const float* dpre, const float* dout,
                                     const float* qkv, const float* att, Dims d) {
  const int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= d.batch * d.heads * d.seq) return;
  const int64_t t2 = row % d.seq, h = row / d.seq % d.heads, b = row / (d.seq * d.heads);
  const int64_t head_rows = (b * d.heads + h) * d.seq;  // first row of this (b, h) in att
  float* dk = dqkv + (b * d.seq + t2) * 3 * d.C() + d.C() + h * d.hs;
  float* dv = dk + d.C();
  for (int64_t i = lane; i < d.hs; i += 32) {
    float acc_k = 0.0f, acc_v = 0.0f;
    for (int64_t t = t2; t < d.seq; ++t) {
      acc_k += dpre[(head_rows + t) * d.seq + t2] * Part(qkv, d, b, t, h, 0)[i];
      acc_v += att[(head_rows + t) * d.seq + t2] * dout[(b * d.seq + t) * d.C() + h * d.hs + i];
    }
    dk[i] += acc_k;
    dv[i] += acc_v;
  }
}

}  // namespace

// ---- launchers ----
cudaError_t LaunchAttentionForward(float* out, float* att, const float* qkv, int64_t batch,
                                   int64_t seq, int64_t heads, int64_t head_size, cudaStream_t s) {
  const int64_t rows = batch * heads * seq;
  MT_CHECK_COUNT(rows);
  const Dims d{batch, seq, heads, head_size};
  ForwardKernel<<<CeilDiv(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, s>>>(
      out, att, qkv, d, 1.0f / sqrtf(static_cast<float>(head_size)));
  return cudaGetLastError();
}

cudaError_t LaunchAttentionBackward(float* dqkv, float* scratch, const float* dout,
                                    const float* qkv, const float* att, int64_t batch, int64_t seq,
                                    int64_t heads, int64_t head_size, cudaStream_t s) {
  const int64_t rows = batch * heads * seq;
  MT_CHECK_COUNT(rows);
  const Dims d{batch, seq, heads, head_size};
  const int grid = CeilDiv(rows, kWarpsPerBlock);
  BackwardRowKernel<<<grid, 32 * kWarpsPerBlock, 0, s>>>(
      dqkv, scratch, dout, qkv, att, d, 1.0f / sqrtf(static_cast<float>(head_size)));
  BackwardColumnKernel<<<grid, 32 * kWarpsPerBlock, 0, s>>>(dqkv, scratch, dout, qkv, att, d);
  return cudaGetLastError();
}

}  // namespace mt::cuda
