// Every CUDA kernel against its CPU twin (runtime/kernels/cpu) on the same random inputs
// (ggml style: one reference, every backend compared with it). Label gpu: skipped without a
// device. Tolerances are per op and printed with the worst difference.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/kernels/cpu/adamw.h"
#include "runtime/kernels/cpu/attention.h"
#include "runtime/kernels/cpu/cross_entropy.h"
#include "runtime/kernels/cpu/embedding.h"
#include "runtime/kernels/cpu/gelu.h"
#include "runtime/kernels/cpu/gemm.h"
#include "runtime/kernels/cpu/layernorm.h"
#include "runtime/kernels/cuda/adamw.h"
#include "runtime/kernels/cuda/allocator.h"
#include "runtime/kernels/cuda/attention.h"
#include "runtime/kernels/cuda/bias.h"
#include "runtime/kernels/cuda/blas.h"
#include "runtime/kernels/cuda/cast.h"
#include "runtime/kernels/cuda/cross_entropy.h"
#include "runtime/kernels/cuda/cuda_check.h"
#include "runtime/kernels/cuda/embedding.h"
#include "runtime/kernels/cuda/gelu.h"
#include "runtime/kernels/cuda/layernorm.h"
#include "runtime/tensor/dtype.h"
#include "tests/support/grad_check.h"

namespace mt::cuda {
namespace {

using mt::testing::RandomVector;

// A device copy of a host vector; Host() copies back.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&ptr_), std::max<size_t>(1, n_) * sizeof(T)),
              cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit DeviceArray(size_t n) : DeviceArray(std::vector<T>(n)) {}
  ~DeviceArray() { cudaFree(ptr_); }
  T* get() { return ptr_; }
  std::vector<T> Host() const {
    std::vector<T> h(n_);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }

 private:
  T* ptr_ = nullptr;
  size_t n_;
};

void ExpectClose(const std::string& what, const std::vector<float>& gpu,
                 const std::vector<float>& cpu, double rtol, double atol = 1e-6) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double worst = 0;
  size_t at = 0, bad = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double d = std::fabs(double(gpu[i]) - cpu[i]);
    if (d > worst) worst = d, at = i;
    bad += d > atol + rtol * std::fabs(cpu[i]);
  }
  EXPECT_EQ(bad, 0u) << what << ": worst |gpu - cpu| = " << worst << " at " << at << " (gpu "
                     << gpu[at] << ", cpu " << cpu[at] << ")";
}

TEST(CudaTwin, Gelu) {
  const int64_t n = 100003;
  auto x = RandomVector(n, 1, 2.0f), dy = RandomVector(n, 2);
  std::vector<float> y(n), dx(n, 0.5f);
  cpu::GeluForward(y.data(), x.data(), n);
  cpu::GeluBackward(dx.data(), x.data(), dy.data(), n);
  DeviceArray<float> gx(x), gy(n), gdy(dy), gdx(std::vector<float>(n, 0.5f));
  ASSERT_EQ(LaunchGeluForward(gy.get(), gx.get(), n, nullptr), cudaSuccess);
  ASSERT_EQ(LaunchGeluBackward(gdx.get(), gx.get(), gdy.get(), n, nullptr), cudaSuccess);
  ExpectClose("gelu forward", gy.Host(), y, 1e-5);
  ExpectClose("gelu backward", gdx.Host(), dx, 1e-5, 1e-5);
}

TEST(CudaTwin, LayerNorm) {
  const int64_t rows = 257, c = 96;
  auto x = RandomVector(rows * c, 3, 3.0f), w = RandomVector(c, 4), b = RandomVector(c, 5);
  auto dy = RandomVector(rows * c, 6);
  std::vector<float> y(rows * c), mean(rows), rstd(rows), dx(rows * c), dw(c), db(c);
  cpu::LayerNormForward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows, c);
  cpu::LayerNormBackward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(),
                         mean.data(), rstd.data(), rows, c);
  DeviceArray<float> gx(x), gw(w), gb(b), gy(rows * c), gm(rows), gr(rows), gdy(dy), gdx(rows * c),
      gdw(c), gdb(c);
  ASSERT_EQ(LaunchLayerNormForward(gy.get(), gm.get(), gr.get(), gx.get(), gw.get(), gb.get(), rows,
                                   c, nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchLayerNormBackward(gdx.get(), gdw.get(), gdb.get(), gdy.get(), gx.get(), gw.get(),
                                    gm.get(), gr.get(), rows, c, nullptr),
            cudaSuccess);
  ExpectClose("layernorm forward", gy.Host(), y, 1e-4, 1e-5);
  ExpectClose("layernorm dinp", gdx.Host(), dx, 1e-4, 1e-5);
  ExpectClose("layernorm dw", gdw.Host(), dw, 1e-4, 1e-4);
  ExpectClose("layernorm db", gdb.Host(), db, 1e-4, 1e-4);
}

TEST(CudaTwin, Attention) {
  const int64_t b = 2, t = 37, h = 3, hs = 16;
  auto qkv = RandomVector(b * t * 3 * h * hs, 7), dy = RandomVector(b * t * h * hs, 8);
  std::vector<float> out(b * t * h * hs), att(b * h * t * t), dqkv(qkv.size());
  cpu::AttentionForward(out.data(), att.data(), qkv.data(), b, t, h, hs);
  cpu::AttentionBackward(dqkv.data(), dy.data(), qkv.data(), att.data(), b, t, h, hs);
  DeviceArray<float> gqkv(qkv), gout(out.size()), gatt(att.size()), gdy(dy), gdqkv(qkv.size()),
      scratch(att.size());
  ASSERT_EQ(LaunchAttentionForward(gout.get(), gatt.get(), gqkv.get(), b, t, h, hs, nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchAttentionBackward(gdqkv.get(), scratch.get(), gdy.get(), gqkv.get(), gatt.get(),
                                    b, t, h, hs, nullptr),
            cudaSuccess);
  ExpectClose("attention out", gout.Host(), out, 1e-4, 1e-5);
  ExpectClose("attention probabilities", gatt.Host(), att, 1e-4, 1e-6);
  ExpectClose("attention dqkv", gdqkv.Host(), dqkv, 1e-3, 1e-5);
}

TEST(CudaTwin, Embedding) {
  const int64_t b = 3, t = 11, c = 40, vocab = 17;
  std::vector<int32_t> tokens(b * t);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = (i * 7) % vocab;
  auto wte = RandomVector(vocab * c, 9), wpe = RandomVector(t * c, 10),
       dy = RandomVector(b * t * c, 11);
  std::vector<float> out(b * t * c), dwte(wte.size()), dwpe(wpe.size());
  cpu::EmbeddingForward(out.data(), tokens.data(), wte.data(), wpe.data(), b, t, c);
  cpu::EmbeddingBackward(dwte.data(), dwpe.data(), dy.data(), tokens.data(), b, t, c);
  DeviceArray<int32_t> gtok(tokens);
  DeviceArray<float> gwte(wte), gwpe(wpe), gout(out.size()), gdy(dy), gdwte(wte.size()),
      gdwpe(wpe.size());
  ASSERT_EQ(
      LaunchEmbeddingForward(gout.get(), gtok.get(), gwte.get(), gwpe.get(), b, t, c, nullptr),
      cudaSuccess);
  ASSERT_EQ(
      LaunchEmbeddingBackward(gdwte.get(), gdwpe.get(), gdy.get(), gtok.get(), b, t, c, nullptr),
      cudaSuccess);
  ExpectClose("embedding forward", gout.Host(), out, 0, 0);
  ExpectClose("embedding dwte", gdwte.Host(), dwte, 1e-5, 1e-6);
  ExpectClose("embedding dwpe", gdwpe.Host(), dwpe, 1e-5, 1e-6);
}

TEST(CudaTwin, CrossEntropy) {
  const int64_t rows = 33, vocab = 1000;
  auto logits = RandomVector(rows * vocab, 12, 4.0f);
  std::vector<int32_t> targets(rows);
  for (int64_t r = 0; r < rows; ++r) targets[r] = r % 5 == 0 ? -1 : (r * 31) % vocab;
  std::vector<float> losses(rows), probs(logits.size()), dlogits(logits.size());
  cpu::CrossEntropyForward(losses.data(), probs.data(), logits.data(), targets.data(), rows, vocab);
  cpu::CrossEntropyBackward(dlogits.data(), probs.data(), targets.data(), 0.25f, rows, vocab);
  DeviceArray<float> gz(logits), gl(rows), gp(logits.size()), gd(logits.size());
  DeviceArray<int32_t> gt(targets);
  ASSERT_EQ(LaunchCrossEntropyForward(gl.get(), gp.get(), gz.get(), gt.get(), rows, vocab, nullptr),
            cudaSuccess);
  ASSERT_EQ(LaunchCrossEntropyBackward(gd.get(), gp.get(), gt.get(), 0.25f, rows, vocab, nullptr),
            cudaSuccess);
  ExpectClose("cross-entropy losses", gl.Host(), losses, 1e-5, 1e-5);
  ExpectClose("cross-entropy dlogits", gd.Host(), dlogits, 1e-4, 1e-7);
}

TEST(CudaTwin, AdamWAndSumSquares) {
  const int64_t n = 5001;
  auto p = RandomVector(n, 13), g = RandomVector(n, 14), m = RandomVector(n, 15, 0.1f);
  std::vector<float> v(n, 0.01f);
  DeviceArray<float> gp(p), gg(g), gm(m), gv(v);
  DeviceArray<__nv_bfloat16> copy(n);
  cpu::AdamWParams c{.lr = 1e-2f,
                     .beta1 = 0.9f,
                     .beta2 = 0.95f,
                     .eps = 1e-8f,
                     .weight_decay = 0.1f,
                     .step = 3,
                     .grad_scale = 0.5f};
  cpu::AdamWUpdate(p.data(), g.data(), m.data(), v.data(), n, c);
  AdamWArgs a{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 3, 0.5f};
  ASSERT_EQ(LaunchAdamW(gp.get(), gg.get(), gm.get(), gv.get(), copy.get(), n, a, nullptr),
            cudaSuccess);
  ExpectClose("adamw param", gp.Host(), p, 1e-5, 1e-6);
  ExpectClose("adamw m", gm.Host(), m, 1e-5, 1e-7);
  auto bf = copy.Host();
  for (int64_t i = 0; i < n; i += 97) {
    EXPECT_EQ(__bfloat16_as_ushort(bf[i]), F32ToBF16(gp.Host()[i])) << i;
  }
  DeviceArray<double> sum(1), partials(kSumSquaresBlocks);
  ASSERT_EQ(LaunchSumSquares(sum.get(), partials.get(), gg.get(), n, nullptr), cudaSuccess);
  EXPECT_NEAR(sum.Host()[0], cpu::SumSquares(g.data(), n), 1e-9 * n);
}

TEST(CudaTwin, GemmAllTranspositionsAndBf16) {
  auto blas = Blas::Create(nullptr);
  ASSERT_TRUE(blas.ok()) << blas.status();
  const int64_t m = 37, n = 29, k = 51;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      auto a = RandomVector(m * k, 16), b = RandomVector(k * n, 17), c = RandomVector(m * n, 18);
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      DeviceArray<float> ga(a), gb(b), gc(c);
      cpu::Gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f, c.data(), n);
      ASSERT_TRUE(
          blas->Gemm(ta, tb, m, n, k, 0.5f, ga.get(), lda, gb.get(), ldb, 1.0f, gc.get(), n).ok());
      ExpectClose("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb), gc.Host(), c, 1e-4,
                  1e-4);
    }
  }
  // bf16: compare with the fp32 CPU GEMM of the bf16-rounded inputs.
  auto a = RandomVector(m * k, 19), b = RandomVector(n * k, 20);
  std::vector<__nv_bfloat16> ab(a.size()), bb(b.size());
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = BF16ToF32(F32ToBF16(a[i])), ab[i] = __float2bfloat16(a[i]);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = BF16ToF32(F32ToBF16(b[i])), bb[i] = __float2bfloat16(b[i]);
  std::vector<float> c(m * n);
  cpu::Gemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  DeviceArray<__nv_bfloat16> gab(ab), gbb(bb);
  DeviceArray<float> gc(m * n);
  ASSERT_TRUE(
      blas->GemmBF16(false, true, m, n, k, 1.0f, gab.get(), k, gbb.get(), k, 0.0f, gc.get(), n)
          .ok());
  ExpectClose("gemm bf16", gc.Host(), c, 1e-4, 1e-4);
}

TEST(CudaTwin, BiasCastAndAllocator) {
  const int64_t rows = 70, cols = 33;
  auto b = RandomVector(cols, 21), dy = RandomVector(rows * cols, 22);
  std::vector<float> db(cols, 1.0f);
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t r = 0; r < rows; ++r) db[j] += dy[r * cols + j];
  }
  DeviceArray<float> gb(b), gout(rows * cols), gdy(dy), gdb(std::vector<float>(cols, 1.0f));
  ASSERT_EQ(LaunchBroadcastRows(gout.get(), gb.get(), rows, cols, nullptr), cudaSuccess);
  ASSERT_EQ(LaunchColumnSum(gdb.get(), gdy.get(), rows, cols, nullptr), cudaSuccess);
  EXPECT_EQ(gout.Host()[5 * cols + 7], b[7]);
  ExpectClose("bias column sum", gdb.Host(), db, 1e-5, 1e-5);
  DeviceArray<__nv_bfloat16> half(rows * cols);
  DeviceArray<float> back(rows * cols);
  ASSERT_EQ(LaunchCastToBF16(half.get(), gdy.get(), rows * cols, nullptr), cudaSuccess);
  ASSERT_EQ(LaunchCastToF32(back.get(), half.get(), rows * cols, nullptr), cudaSuccess);
  auto h = back.Host();
  for (int64_t i = 0; i < rows * cols; ++i) ASSERT_EQ(h[i], BF16ToF32(F32ToBF16(dy[i]))) << i;
  // The caching allocator hands a freed block back for the same size class.
  CachingAllocator* alloc = CudaAllocator();
  void* p1 = alloc->Allocate(1000);
  ASSERT_NE(p1, nullptr);
  alloc->Free(p1, 1000);
  EXPECT_EQ(alloc->Allocate(900), p1);
  auto t = Tensor::Empty({4, 4}, DType::kF32, alloc);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->device(), Device::kCuda);
}

}  // namespace
}  // namespace mt::cuda
