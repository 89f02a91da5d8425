// The op queue's own cost (runtime/comm/op_queue.h), without any engine: the time one
// issue-then-wait round of an empty op takes (the per-op overhead every Gloo and MPI
// collective pays), and how soon an op nobody waits on starts (the thread's grace period, or
// its watch when the op was not announced), and how fast the thread drains a backlog of ops
// issued without waiting (overlapped gradient buckets), per op.
//   op_queue_bench [--ops 200000] [--lone 20] [--backlog 2000] [--json FILE]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/util.h"
#include "runtime/comm/op_queue.h"

namespace {

using mt::bench::Clock;
using mt::bench::Since;

double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int ops = 200000, lone = 20, backlog = 2000;
  std::string json;
  CLI::App app{"Cost of the comm op queue: issue-then-wait and unwaited-op start latency"};
  app.add_option("--ops", ops, "Issue-then-wait rounds per repetition");
  app.add_option("--lone", lone, "Unwaited ops to time (each after 50 waited ones)");
  app.add_option("--backlog", backlog, "Ops issued at once, nobody waiting, per repetition");
  app.add_option("--json", json);
  CLI11_PARSE(app, argc, argv);
  mt::comm::FlightRecorder recorder;
  mt::comm::OpQueue queue(&recorder);
  const auto empty = [] { return absl::OkStatus(); };
  std::vector<double> per_op;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    for (int i = 0; i < ops; ++i) {
      queue.Enqueue("op", 4, -1, empty)->Wait(std::chrono::seconds(5)).IgnoreError();
    }
    per_op.push_back(Since(t0) / ops * 1e6);
  }
  std::vector<double> starts;
  for (int i = 0; i < lone; ++i) {
    for (int w = 0; w < 50; ++w) {
      queue.Enqueue("op", 4, -1, empty)->Wait(std::chrono::seconds(5)).IgnoreError();
    }
    std::atomic<bool> ran{false};
    const auto t0 = Clock::now();
    auto work = queue.Enqueue("lone", 4, -1, [&] {
      ran = true;
      return absl::OkStatus();
    });
    while (!ran) std::this_thread::sleep_for(std::chrono::microseconds(50));
    starts.push_back(Since(t0) * 1e3);
    work->Wait(std::chrono::seconds(5)).IgnoreError();
  }
  // Backlog: the ops are issued back to back and left to the queue thread; the caller only
  // polls the last one, as a trainer does until its gradient buckets are needed.
  std::vector<double> drain;
  for (int rep = 0; rep < 5 && backlog > 0; ++rep) {
    std::vector<std::shared_ptr<mt::comm::Work>> works;
    works.reserve(backlog);
    const auto t0 = Clock::now();
    for (int i = 0; i < backlog; ++i) works.push_back(queue.Enqueue("op", 4, -1, empty));
    while (!works.back()->Done()) std::this_thread::sleep_for(std::chrono::microseconds(50));
    drain.push_back(Since(t0) / backlog * 1e6);
  }
  const double op_us = MedianOf(per_op), start_ms = MedianOf(starts), drain_us = MedianOf(drain);
  const double worst_ms = starts.empty() ? 0 : *std::max_element(starts.begin(), starts.end());
  std::printf(
      "# op_queue_bench: %d issue-then-wait rounds x 3, %d unwaited ops, backlog of %d x 5\n", ops,
      lone, backlog);
  std::printf("%16s %20s %20s %18s\n", "us/op (median)", "lone start ms (med)",
              "lone start ms (max)", "backlog us/op");
  std::printf("%16.3f %20.2f %20.2f %18.3f\n", op_us, start_ms, worst_ms, drain_us);
  if (!json.empty()) {
    nlohmann::json j = mt::bench::RunInfo();
    j["config"] = {{"ops", ops}, {"lone", lone}, {"backlog", backlog}};
    j["results"] = {{"us_per_op", op_us},
                    {"lone_start_ms_median", start_ms},
                    {"lone_start_ms_max", worst_ms},
                    {"backlog_us_per_op", drain_us}};
    std::ofstream(json) << j.dump(2) << "\n";
  }
  return 0;
}
