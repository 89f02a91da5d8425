// bench/train on a GPU: training throughput of the CUDA GPT (runtime/nn/cuda) and its model
// FLOPs utilisation against the device's dense bf16 peak, next to the cuBLAS bf16 GEMM rate on
// exactly the GEMM shapes one step runs (so "our kernels" and "the GEMM library" are separated,
// as bench/train does on the CPU). Default shape: GPT-2 124M (12 layers, 12 heads, d_model 768,
// seq 1024, vocabulary padded to 50304 as llm.c does), batch 8.
//   gpu_train_bench [--layers 12] [--heads 12] [--d-model 768] [--seq 1024] [--vocab 50304]
//                   [--batch 8] [--steps 10] [--fp32] [--peak-tflops 989] [--json FILE]
// FLOPs per token: 6N + 12*L*T*C (N = parameters), as bench/train and the issue define it: the
// attention term counts the full T x T scores (PaLM's convention; llm.c counts the causal half,
// 6*L*T*C, which makes MFU ~7% lower at this shape). Each timed step includes the two host
// synchronisations of a training step (the loss and the gradient norm). Without a CUDA device
// it says so and exits 0 (a benchmark, not a test).
#include <cuda_runtime_api.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/bench_model.h"
#include "bench/common/gpt_step.h"
#include "bench/common/util.h"
#include "runtime/kernels/cuda/blas.h"
#include "runtime/kernels/cuda/cast.h"
#include "runtime/kernels/cuda/device.h"
#include "runtime/nn/cuda/device_net.h"

namespace {

using mt::bench::Check;
using mt::bench::Clock;
using mt::bench::Since;

struct Config : mt::bench::StepShape {
  Config() : StepShape{12, 12, 768, 1024, 50304, 8, 10} {}  // GPT-2 124M, batch 8
  bool fp32 = false;
  double peak_tflops = 989;  // H100/H200 SXM dense bf16
  std::string json;
};

// Seconds for one of each GEMM a step runs (forward, input-grad, weight-grad of every linear
// layer and the tied head) through cuBLAS in the model's precision, and their FLOPs.
std::pair<double, double> TimeStepGemms(const Config& c) {
  const int64_t rows = c.batch * c.seq, d = c.d_model, f = 4 * d;
  const auto layers = mt::bench::StepGemmShapes(c.layers, c.d_model, c.vocab);  // (out, in)
  cudaStream_t stream = nullptr;
  cudaStreamCreate(&stream);
  auto blas = mt::cuda::Blas::Create(stream);
  Check(blas.status());
  // Operands as large as the largest GEMM needs, random (tensor cores run faster on zeros),
  // in fp32 and cast to bf16.
  const int64_t most = std::max(c.vocab, f) * std::max(rows, d);
  std::vector<float> host(most);
  std::mt19937 gen(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& x : host) x = dist(gen);
  float *out = nullptr, *a = nullptr, *b = nullptr;
  __nv_bfloat16 *ab = nullptr, *bb = nullptr;
  auto alloc = [&](void** p, size_t bytes) {
    Check(cudaMalloc(p, bytes) == cudaSuccess
              ? absl::OkStatus()
              : absl::ResourceExhaustedError("cudaMalloc for the GEMM timing"));
  };
  for (float** p : {&out, &a, &b}) alloc(reinterpret_cast<void**>(p), most * sizeof(float));
  for (__nv_bfloat16** p : {&ab, &bb}) {
    alloc(reinterpret_cast<void**>(p), most * sizeof(__nv_bfloat16));
  }
  for (float* p : {a, b}) {
    cudaMemcpy(p, host.data(), most * sizeof(float), cudaMemcpyHostToDevice);
  }
  cudaMemset(out, 0, most * sizeof(float));
  Check(mt::cuda::LaunchCastToBF16(ab, a, most, stream) == cudaSuccess
            ? absl::OkStatus()
            : absl::InternalError("cast"));
  Check(mt::cuda::LaunchCastToBF16(bb, b, most, stream) == cudaSuccess
            ? absl::OkStatus()
            : absl::InternalError("cast"));
  // The three GEMMs of a linear layer: forward, input gradient, weight gradient.
  auto run = [&](int64_t out_f, int64_t in_f) {
    if (c.fp32) {
      Check(blas->Gemm(false, true, rows, out_f, in_f, 1, a, in_f, b, in_f, 0, out, out_f));
      Check(blas->Gemm(false, false, rows, in_f, out_f, 1, a, out_f, b, in_f, 1, out, in_f));
      Check(blas->Gemm(true, false, out_f, in_f, rows, 1, a, out_f, b, in_f, 1, out, in_f));
      return;
    }
    Check(blas->GemmBF16(false, true, rows, out_f, in_f, 1, ab, in_f, bb, in_f, 0, out, out_f));
    Check(blas->GemmBF16(false, false, rows, in_f, out_f, 1, ab, out_f, bb, in_f, 1, out, in_f));
    Check(blas->GemmBF16(true, false, out_f, in_f, rows, 1, ab, out_f, bb, in_f, 1, out, in_f));
  };
  for (auto [o, i] : layers) run(o, i);  // warm-up
  cudaStreamSynchronize(stream);
  const auto t0 = Clock::now();
  double flops = 0;
  for (auto [o, i] : layers) {
    run(o, i);
    flops += 3 * 2.0 * rows * o * i;
  }
  cudaStreamSynchronize(stream);
  const double s = Since(t0);
  for (void* p : {static_cast<void*>(out), static_cast<void*>(a), static_cast<void*>(b),
                  static_cast<void*>(ab), static_cast<void*>(bb)}) {
    cudaFree(p);
  }
  cudaStreamDestroy(stream);
  return {s, flops};
}

int Run(const Config& c) {
  auto count = mt::cuda::DeviceCount();
  Check(count.status());
  if (*count == 0) {
    std::printf("gpu_train_bench: no CUDA device, nothing measured\n");
    return 0;
  }
  const std::string device = mt::cuda::DeviceName(0).value_or("?");
  auto host = mt::bench::MakeModel({c.layers, c.heads, c.d_model, c.seq, c.vocab}, 1);
  auto model = mt::nn::cuda::CreateDeviceNet(*host, c.batch, c.seq, /*bf16=*/!c.fp32);
  Check(model.status());
  mt::nn::cuda::DeviceNet& m = **model;
  std::mt19937 gen(3);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab - 1));
  std::vector<int32_t> tokens(c.batch * c.seq), targets(c.batch * c.seq);
  for (auto& t : tokens) t = tok(gen);
  for (auto& t : targets) t = tok(gen);
  int64_t step_no = 0;
  float loss = 0;
  auto step = [&] {
    Check(m.ZeroGrad());
    auto l = m.Forward(tokens.data(), targets.data(), c.batch, c.seq);
    Check(l.status());
    loss = *l;
    Check(m.Backward(1.0f));
    auto norm = m.GradNormSquared();
    Check(norm.status());
    Check(m.Update({.lr = 1e-4f, .weight_decay = 0.1f, .step = ++step_no, .grad_scale = 1.0f}));
  };
  step();  // warm-up: cuBLAS heuristics, first-touch
  step();
  Check(m.Synchronize());
  const auto t0 = Clock::now();
  for (int s = 0; s < c.steps; ++s) step();
  Check(m.Synchronize());
  const double step_s = Since(t0) / c.steps;
  const double flops_per_token =
      mt::bench::FlopsPerToken(m.num_parameters(), c.layers, c.seq, c.d_model);
  const double tokens_per_s = c.batch * c.seq / step_s;
  const double model_flops = tokens_per_s * flops_per_token;
  auto [gemm_s, gemm_flops] = TimeStepGemms(c);
  const double gemm_rate = gemm_flops / gemm_s;
  const double mfu = model_flops / (c.peak_tflops * 1e12);
  std::printf(
      "# gpu_train_bench: %s, GPT %ld layers x d_model %ld, %ld heads, seq %ld, vocab %ld, "
      "batch %ld, %s GEMMs, %.1f M parameters, %d steps\n",
      device.c_str(), c.layers, c.d_model, c.heads, c.seq, c.vocab, c.batch,
      c.fp32 ? "fp32" : "bf16", m.num_parameters() / 1e6, c.steps);
  std::printf("%10s %12s %12s %14s %8s %8s %8s\n", "step(ms)", "tokens/s", "model TF/s",
              "GEMM TF/s", "ratio", "MFU", "loss");
  std::printf("%10.2f %12.0f %12.1f %14.1f %8.3f %8.3f %8.4f\n", step_s * 1e3, tokens_per_s,
              model_flops / 1e12, gemm_rate / 1e12, model_flops / gemm_rate, mfu, loss);
  if (!c.json.empty()) {
    nlohmann::json j = mt::bench::RunInfo();
    j["config"] = {{"layers", c.layers}, {"heads", c.heads}, {"d_model", c.d_model},
                   {"seq", c.seq},       {"vocab", c.vocab}, {"batch", c.batch},
                   {"steps", c.steps},   {"fp32", c.fp32},   {"peak_tflops", c.peak_tflops},
                   {"device", device}};
    j["results"] = {{"step_ms", step_s * 1e3},
                    {"tokens_per_s", tokens_per_s},
                    {"model_tflops", model_flops / 1e12},
                    {"gemm_tflops", gemm_rate / 1e12},
                    {"ratio", model_flops / gemm_rate},
                    {"mfu", mfu},
                    {"loss", loss}};
    std::ofstream(c.json) << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Training throughput and MFU of the CUDA GPT"};
  mt::bench::AddShapeOptions(app, c);
  app.add_flag("--fp32", c.fp32, "fp32 GEMMs instead of bf16");
  app.add_option("--peak-tflops", c.peak_tflops, "The device's dense peak for MFU (TFLOP/s)");
  app.add_option("--json", c.json);
  CLI11_PARSE(app, argc, argv);
  return Run(c);
}
