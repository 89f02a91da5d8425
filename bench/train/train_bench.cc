// bench/train: training throughput of the CPU GPT against the GEMM rate of the same machine.
//
// Prints, in one run: tokens/s and model FLOP/s (6N + 12*L*T*C per token, N = parameters) of
// full steps (forward, backward, AdamW) on random tokens, and the GEMM rate of the provider on
// exactly the GEMM shapes one step runs (forward, input-grad and weight-grad of every linear
// layer and of the tied head), and their ratio. Goal: ratio >= 0.6 for d_model >= 256.
//   train_bench [--layers 4] [--heads 4] [--d-model 256] [--seq 64] [--batch 32] [--vocab 256]
//               [--steps 10] [--json FILE]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/bench_model.h"
#include "bench/common/gpt_step.h"
#include "bench/common/util.h"
#include "fmt/format.h"
#include "runtime/kernels/cpu/gemm.h"
#include "runtime/optim/adamw.h"

namespace {

using mt::bench::Clock;
using mt::bench::Since;

struct Config : mt::bench::StepShape {
  Config() : StepShape{4, 4, 256, 64, 256, 32, 10} {}
  std::string json;
};

// Seconds for one of each GEMM a training step runs, and their FLOPs.
std::pair<double, double> TimeStepGemms(const Config& c) {
  const int64_t rows = c.batch * c.seq;
  double flops = 0, seconds = 0;
  for (auto [out, in] : mt::bench::StepGemmShapes(c.layers, c.d_model, c.vocab)) {
    std::vector<float> x(rows * in, 0.5f), w(out * in, 0.25f), y(rows * out), dw(out * in);
    std::vector<float> dx(rows * in);
    using mt::cpu::Gemm;
    Gemm(false, true, rows, out, in, 1, x.data(), in, w.data(), in, 0, y.data(), out);  // warm
    const int reps = 5;
    const auto t = Clock::now();
    for (int r = 0; r < reps; ++r) {
      Gemm(false, true, rows, out, in, 1, x.data(), in, w.data(), in, 0, y.data(), out);
      Gemm(false, false, rows, in, out, 1, y.data(), out, w.data(), in, 0, dx.data(), in);
      Gemm(true, false, out, in, rows, 1, y.data(), out, x.data(), in, 0, dw.data(), in);
    }
    seconds += Since(t) / reps;
    flops += 3 * 2.0 * rows * out * in;
  }
  return {seconds, flops};
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"meshtrain training throughput benchmark (CPU)"};
  mt::bench::AddShapeOptions(app, c);
  app.add_option("--json", c.json, "Write results as JSON to FILE");
  CLI11_PARSE(app, argc, argv);

  auto model = mt::bench::MakeModel({c.layers, c.heads, c.d_model, c.seq, c.vocab}, 1);
  mt::optim::AdamW opt(model->Parameters(), {});
  std::mt19937 gen(3);
  std::vector<int32_t> tokens(c.batch * c.seq), targets(c.batch * c.seq);
  for (auto& t : tokens) t = gen() % c.vocab;
  for (auto& t : targets) t = gen() % c.vocab;
  auto step = [&] {
    model->ZeroGrad();
    model->Forward(tokens.data(), targets.data(), c.batch, c.seq);
    model->Backward(1.0f);
    opt.Step(1e-4);
  };
  step();  // warm-up: buffers, thread pools
  const auto t0 = Clock::now();
  for (int s = 0; s < c.steps; ++s) step();
  const double step_s = Since(t0) / c.steps;

  int64_t n = 0;
  for (auto* p : model->Parameters()) n += p->value.numel();
  const double flops_per_token = mt::bench::FlopsPerToken(n, c.layers, c.seq, c.d_model);
  const double tokens_per_s = c.batch * c.seq / step_s;
  const double model_flops = tokens_per_s * flops_per_token;
  auto [gemm_s, gemm_flops] = TimeStepGemms(c);
  const double gemm_rate = gemm_flops / gemm_s;
  const auto info = mt::cpu::GemmInfo();

  std::printf(
      "# GPT L=%ld H=%ld C=%ld T=%ld B=%ld V=%ld, %.2fM parameters; GEMM: OpenBLAS %s, %d "
      "threads\n",
      c.layers, c.heads, c.d_model, c.seq, c.batch, c.vocab, n / 1e6, info.core.c_str(),
      info.threads);
  std::printf("%12s %12s %14s %16s %8s\n", "step_ms", "tokens/s", "model_GFLOP/s",
              "step_GEMM_GFLOP/s", "ratio");
  std::printf("%12.2f %12.0f %14.1f %16.1f %8.2f\n", step_s * 1e3, tokens_per_s, model_flops / 1e9,
              gemm_rate / 1e9, model_flops / gemm_rate);
  if (!c.json.empty()) {
    nlohmann::json j = mt::bench::RunInfo();
    j["config"] = {{"layers", c.layers},     {"heads", c.heads}, {"d_model", c.d_model},
                   {"seq", c.seq},           {"batch", c.batch}, {"vocab", c.vocab},
                   {"steps", c.steps},       {"parameters", n},  {"gemm_core", info.core},
                   {"threads", info.threads}};
    j["results"] = {{"step_ms", step_s * 1e3},
                    {"tokens_per_s", tokens_per_s},
                    {"model_gflops", model_flops / 1e9},
                    {"gemm_gflops", gemm_rate / 1e9},
                    {"ratio", model_flops / gemm_rate}};
    std::ofstream(c.json) << j.dump(2) << "\n";
  }
  return 0;
}
