// bench/pipeline: the measured pipeline bubble against the schedule's formula.
//
// For p stages (threads over Gloo, one core's worth of kernels each) and m micro-batches, a GPT
// with `--layers-per-chunk` layers per model chunk runs training steps through the executor; a
// stage's bubble is its idle time (step time minus time inside forward/backward) over the step
// time, averaged over stages and taken as the median over steps. Formula: (p-1)/(m+p-1) for
// GPipe and 1F1B, (p-1)/(v*m+p-1) interleaved. Goal: measured within +5 percentage points.
// On a machine with fewer cores than stages, stages share cores and the measurement says so.
//   pipeline_bench [--d-model 128] [--seq 64] [--micro-size 2] [--layers-per-chunk 2]
//                  [--steps 5] [--json FILE]
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/bench_model.h"
#include "bench/common/ranks.h"
#include "fmt/format.h"
#include "parallelism/pipeline/executor.h"
#include "parallelism/pipeline/partition.h"
#include "parallelism/pipeline/schedule.h"

namespace {

using namespace mt;

struct Config {
  int64_t d_model = 128, seq = 64, micro_size = 2, layers_per_chunk = 2;
  int steps = 5;
  std::string json;
};

struct Row {
  std::string schedule;
  int p = 0, v = 1, m = 0;
  double formula = 0, measured = 0, step_ms = 0;
};

double Median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  return x[x.size() / 2];
}

Row Measure(const Config& c, const std::string& name, int p, int v, int m) {
  Row row{name, p, v, m};
  auto schedule = pipeline::MakeSchedule(name, p, m, v);
  if (!schedule.ok()) {
    std::fprintf(stderr, "%s\n", schedule.status().ToString().c_str());
    std::exit(1);
  }
  row.formula = double(p - 1) / (double(v) * m + p - 1);
  const bench::ModelSize size{c.layers_per_chunk * p * v, 4, c.d_model, c.seq, 256};
  std::vector<double> bubbles, steps;  // per step: mean bubble over stages, step time
  std::vector<std::vector<double>> per_stage(p), totals(p);
  bench::RunRanks(p, fmt::format("pipe-{}-{}-{}-{}", name, p, v, m),
                  [&](comm::Backend& world, int stage) {
                    nn::Placement placement;
                    placement.chunks = pipeline::StageChunks(size.layers, p, v, stage);
                    auto model = bench::MakeModel(size, 1, placement);
                    pipeline::Executor exec(*model, *schedule, stage, &world);
                    std::mt19937 gen(7);
                    std::vector<std::vector<int32_t>> tokens(m), targets(m);
                    std::vector<pipeline::MicroBatch> micro;
                    for (int i = 0; i < m; ++i) {
                      for (int64_t t = 0; t < c.micro_size * c.seq; ++t) {
                        tokens[i].push_back(static_cast<int32_t>(gen() % 256));
                        targets[i].push_back(static_cast<int32_t>(gen() % 256));
                      }
                      micro.push_back({tokens[i].data(), targets[i].data(), c.micro_size, c.seq});
                    }
                    for (int s = 0; s <= c.steps; ++s) {  // step 0 warms up
                      model->ZeroGrad();
                      auto loss = exec.Run(micro, 1.0f / m);
                      if (!loss.ok()) {
                        std::fprintf(stderr, "%s\n", loss.status().ToString().c_str());
                        std::exit(1);
                      }
                      if (s == 0) continue;
                      const auto& t = exec.last_times();
                      per_stage[stage].push_back((t.total_s - t.compute_s) / t.total_s);
                      totals[stage].push_back(t.total_s);
                    }
                  });
  for (int s = 0; s < c.steps; ++s) {
    double b = 0, step = 0;
    for (int i = 0; i < p; ++i) {
      b += per_stage[i][s] / p;
      step = std::max(step, totals[i][s]);
    }
    bubbles.push_back(b);
    steps.push_back(step);
  }
  row.measured = Median(bubbles);
  row.step_ms = 1e3 * Median(steps);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"pipeline bubble: measured idle share of each stage vs the schedule's formula"};
  app.add_option("--d-model", c.d_model);
  app.add_option("--seq", c.seq);
  app.add_option("--micro-size", c.micro_size, "samples per micro-batch");
  app.add_option("--layers-per-chunk", c.layers_per_chunk);
  app.add_option("--steps", c.steps);
  app.add_option("--json", c.json);
  CLI11_PARSE(app, argc, argv);
  const unsigned cores = std::thread::hardware_concurrency();
  std::vector<Row> rows;
  for (const char* name : {"gpipe", "1f1b", "interleaved"}) {
    for (int p : {2, 4}) {
      for (int m : {4, 8, 16}) {
        const int v = std::string(name) == "interleaved" ? 2 : 1;
        rows.push_back(Measure(c, name, p, v, m));
      }
    }
  }
  std::printf(
      "# d_model %lld, seq %lld, %lld samples per micro-batch, %lld layers per model chunk; "
      "%u cores\n",
      static_cast<long long>(c.d_model), static_cast<long long>(c.seq),
      static_cast<long long>(c.micro_size), static_cast<long long>(c.layers_per_chunk), cores);
  std::printf("%-12s %3s %3s %3s | %8s %9s %8s | %9s\n", "schedule", "p", "v", "m", "formula",
              "measured", "diff pp", "step ms");
  nlohmann::json out = {{"info", bench::RunInfo()}, {"rows", nlohmann::json::array()}};
  for (const Row& r : rows) {
    const double diff = 100 * (r.measured - r.formula);
    std::printf("%-12s %3d %3d %3d | %8.3f %9.3f %+8.1f | %9.1f%s\n", r.schedule.c_str(), r.p, r.v,
                r.m, r.formula, r.measured, diff, r.step_ms,
                static_cast<unsigned>(r.p) > cores ? "  (stages share cores)" : "");
    out["rows"].push_back({{"schedule", r.schedule},
                           {"p", r.p},
                           {"v", r.v},
                           {"m", r.m},
                           {"formula", r.formula},
                           {"measured", r.measured},
                           {"step_ms", r.step_ms},
                           {"cores", cores}});
  }
  if (!c.json.empty()) std::ofstream(c.json) << out.dump(2) << "\n";
  return 0;
}
