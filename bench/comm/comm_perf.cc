// nccl-tests-style benchmark of one collective through meshtrain's Backend, next to the raw
// engine call on the same buffers (plain gloo::allreduce / MPI_Allreduce ...), so the cost of
// our layer is measured, not guessed. Built once per op (allreduce_perf, allgather_perf,
// reducescatter_perf, broadcast_perf).
//   allreduce_perf --backend gloo --nranks 4 [-b 8] [-e 256M] [-f 2] [-n 20] [-w 5] [--json F]
//   mpirun -np 4 allreduce_perf --backend mpi ...
// Columns: size count type redop | time(us) algbw busbw #wrong | raw_busbw ratio. busbw uses
// nccl-tests' factors: allreduce 2(n-1)/n, allgather and reducescatter (n-1)/n, broadcast 1.
// Our allreduce/broadcast are in place; allgather/reducescatter out of place (as the API is).
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "fmt/format.h"
#include "gloo/allgather.h"
#include "gloo/allreduce.h"
#include "gloo/broadcast.h"
#include "gloo/math.h"
#include "gloo/reduce_scatter.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/hash_store.h"
#include "gloo/rendezvous/prefix_store.h"
#include "gloo/transport/tcp/device.h"
#include "runtime/comm/factory.h"
#include "runtime/comm/mpi/mpi_backend.h"

#ifndef MT_BENCH_OP
#define MT_BENCH_OP "allreduce"
#endif

namespace {

using Clock = std::chrono::steady_clock;
const std::string kOp = MT_BENCH_OP;

struct Config {
  std::string backend = "gloo";
  int nranks = 2;
  int64_t min_bytes = 8, max_bytes = 64 << 20;
  double factor = 2;
  int iters = 20, warmup = 5;
  std::string json;
};

double BusFactor(int n) {
  if (kOp == "allreduce") return 2.0 * (n - 1) / n;
  if (kOp == "broadcast") return 1.0;
  return double(n - 1) / n;
}

// Elements in each rank's input for a message of `bytes` (nccl-tests: size is the total
// buffer, so allgather/reducescatter per-rank counts are size / n).
int64_t CountFor(int64_t bytes, int n) {
  const int64_t elems = bytes / 4;
  return (kOp == "allgather" || kOp == "reducescatter") ? elems / n : elems;
}

// One rank's buffers for a size, filled so the result is checkable.
struct Buffers {
  std::vector<float> in, out;
};

// Refills inputs in place (fresh allocations between phases cost page faults and MPI memory
// registration, which made whichever side ran second look 2-3x slower).
void Reset(Buffers& b, int rank) {
  std::fill(b.in.begin(), b.in.end(), static_cast<float>(rank + 1));
  std::fill(b.out.begin(), b.out.end(), 0.0f);
}

Buffers Make(int64_t count, int rank, int n) {
  Buffers b;
  const int64_t in_n = kOp == "reducescatter" ? count * n : count;
  const int64_t out_n = kOp == "allgather" ? count * n : count;
  b.in.assign(in_n, static_cast<float>(rank + 1));
  b.out.assign(out_n, 0.0f);
  return b;
}

// Count of wrong output elements after one run of the op (inputs all equal rank + 1).
int64_t Wrong(const Buffers& b, int rank, int n) {
  const std::vector<float>& got = (kOp == "allreduce" || kOp == "broadcast") ? b.in : b.out;
  const float sum = n * (n + 1) / 2.0f;
  int64_t wrong = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(got.size()); ++i) {
    float want = sum;
    if (kOp == "broadcast") want = 1.0f;  // root 0 holds 1
    if (kOp == "allgather") want = static_cast<float>(i / (got.size() / n) + 1);
    wrong += std::fabs(got[i] - want) > 1e-3f;
  }
  return wrong;
}

// Runs our op once on b (restoring inputs first so repeated runs stay checkable).
absl::Status RunOurs(mt::comm::Backend& be, Buffers& b, int64_t count) {
  using mt::DType;
  if (kOp == "allreduce")
    return be.AllReduce(b.in.data(), count, DType::kF32)->Wait(std::chrono::minutes(5));
  if (kOp == "broadcast")
    return be.Broadcast(b.in.data(), count, DType::kF32, 0)->Wait(std::chrono::minutes(5));
  if (kOp == "allgather") {
    return be.AllGather(b.in.data(), b.out.data(), count, DType::kF32)
        ->Wait(std::chrono::minutes(5));
  }
  return be.ReduceScatter(b.in.data(), b.out.data(), count, DType::kF32)
      ->Wait(std::chrono::minutes(5));
}

// The same op straight on the engine, bypassing our layer.
using RawFn = std::function<void(Buffers&, int64_t count)>;

RawFn RawGloo(std::shared_ptr<gloo::rendezvous::Context> ctx) {
  return [ctx](Buffers& b, int64_t count) {
    if (count == 0) return;
    if (kOp == "allreduce") {
      gloo::AllreduceOptions o(ctx);
      o.setOutput(b.in.data(), count);
      o.setReduceFunction(
          static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
      gloo::allreduce(o);
    } else if (kOp == "broadcast") {
      gloo::BroadcastOptions o(ctx);
      o.setOutput(b.in.data(), count);
      o.setRoot(0);
      gloo::broadcast(o);
    } else if (kOp == "allgather") {
      gloo::AllgatherOptions o(ctx);
      o.setInput(b.in.data(), count);
      o.setOutput(b.out.data(), count * ctx->size);
      gloo::allgather(o);
    } else {  // reducescatter: what our Gloo backend does (allreduce of the full buffer)
      gloo::AllreduceOptions o(ctx);
      o.setOutput(b.in.data(), count * ctx->size);
      o.setReduceFunction(
          static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
      gloo::allreduce(o);
    }
  };
}

RawFn RawMpi() {
  return [](Buffers& b, int64_t count) {
    const int c = static_cast<int>(count);
    if (kOp == "allreduce")
      MPI_Allreduce(MPI_IN_PLACE, b.in.data(), c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (kOp == "broadcast") MPI_Bcast(b.in.data(), c, MPI_FLOAT, 0, MPI_COMM_WORLD);
    if (kOp == "allgather") {
      MPI_Allgather(b.in.data(), c, MPI_FLOAT, b.out.data(), c, MPI_FLOAT, MPI_COMM_WORLD);
    }
    if (kOp == "reducescatter") {
      MPI_Reduce_scatter_block(b.in.data(), b.out.data(), c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
  };
}

struct Row {
  int64_t bytes, count;
  double time_us, algbw, busbw, raw_busbw;
  int64_t wrong;
};

double TimeIt(const Config& c, mt::comm::Backend& be, const std::function<void()>& op) {
  for (int i = 0; i < c.warmup; ++i) op();
  be.Barrier()->Wait(std::chrono::minutes(5)).IgnoreError();
  const auto t0 = Clock::now();
  for (int i = 0; i < c.iters; ++i) op();
  return std::chrono::duration<double>(Clock::now() - t0).count() / c.iters;
}

// One rank's sweep; rank 0's rows are the report.
std::vector<Row> Sweep(const Config& c, mt::comm::Backend& be, const RawFn& raw) {
  std::vector<Row> rows;
  const int n = be.size();
  for (double bytes = c.min_bytes; bytes <= c.max_bytes; bytes *= c.factor) {
    const int64_t count = CountFor(static_cast<int64_t>(bytes), n);
    Buffers b = Make(count, be.rank(), n);
    // Alternate raw and ours twice and keep each one's best time: the same number of samples
    // for both, so noise cannot favour either side. Each phase starts from reset inputs
    // (in-place sums grow every iteration) in the same buffers.
    double ours = 1e30, theirs = 1e30;
    for (int round = 0; round < 2; ++round) {
      Reset(b, be.rank());
      theirs = std::min(theirs, TimeIt(c, be, [&] { raw(b, count); }));
      Reset(b, be.rank());
      ours = std::min(ours, TimeIt(c, be, [&] { RunOurs(be, b, count).IgnoreError(); }));
    }
    Reset(b, be.rank());  // fresh inputs for the correctness check
    if (kOp == "broadcast" && be.rank() != 0) std::fill(b.in.begin(), b.in.end(), -1.0f);
    RunOurs(be, b, count).IgnoreError();
    const int64_t total = (kOp == "allgather" || kOp == "reducescatter") ? count * n : count;
    const double size = total * 4.0;
    Row r{static_cast<int64_t>(size),
          total,
          ours * 1e6,
          size / ours / 1e9,
          size / ours / 1e9 * BusFactor(n),
          size / theirs / 1e9 * BusFactor(n),
          Wrong(b, be.rank(), n)};
    rows.push_back(r);
  }
  return rows;
}

void Report(const Config& c, int n, const std::vector<Row>& rows) {
  std::printf("# %s_perf: backend %s, %d ranks, %d iters (%d warm-up), float, sum\n", kOp.c_str(),
              c.backend.c_str(), n, c.iters, c.warmup);
  std::printf("%12s %12s %6s %6s %10s %8s %8s %7s %10s %7s\n", "size", "count", "type", "redop",
              "time(us)", "algbw", "busbw", "#wrong", "raw_busbw", "ratio");
  nlohmann::json results = nlohmann::json::array();
  for (const Row& r : rows) {
    const double ratio = r.raw_busbw > 0 ? r.busbw / r.raw_busbw : 0;
    std::printf("%12ld %12ld %6s %6s %10.1f %8.3f %8.3f %7ld %10.3f %7.3f\n", r.bytes, r.count,
                "float", "sum", r.time_us, r.algbw, r.busbw, r.wrong, r.raw_busbw, ratio);
    results.push_back({{"op", kOp},
                       {"bytes", r.bytes},
                       {"count", r.count},
                       {"dtype", "float"},
                       {"in_place", kOp == "allreduce" || kOp == "broadcast"},
                       {"time_us", r.time_us},
                       {"algbw", r.algbw},
                       {"busbw", r.busbw},
                       {"wrong", r.wrong},
                       {"raw_busbw", r.raw_busbw},
                       {"ratio_vs_raw", ratio}});
  }
  if (!c.json.empty()) {
    nlohmann::json j = mt::bench::RunInfo();
    j["config"] = {{"op", kOp},
                   {"backend", c.backend},
                   {"nranks", n},
                   {"iters", c.iters},
                   {"warmup", c.warmup},
                   {"min_bytes", c.min_bytes},
                   {"max_bytes", c.max_bytes}};
    j["results"] = results;
    std::ofstream(c.json) << j.dump(2) << "\n";
  }
}

int64_t ParseBytes(const std::string& s) {
  const char unit = s.empty() ? 0 : s.back();
  const int64_t mult = unit == 'K' ? 1 << 10 : unit == 'M' ? 1 << 20 : unit == 'G' ? 1 << 30 : 1;
  return std::stoll(mult == 1 ? s : s.substr(0, s.size() - 1)) * mult;
}

int RunGloo(const Config& c) {
  auto store = mt::comm::MakeMemoryStore();
  gloo::rendezvous::HashStore raw_store;
  std::vector<Row> rows;
  std::vector<std::thread> threads;
  for (int r = 0; r < c.nranks; ++r) {
    threads.emplace_back([&, r] {
      auto be = mt::comm::CreateBackend("gloo", store, r, c.nranks);
      if (!be.ok()) {
        std::fprintf(stderr, "rank %d: %s\n", r, std::string(be.status().message()).c_str());
        std::exit(1);
      }
      auto ctx = std::make_shared<gloo::rendezvous::Context>(r, c.nranks);
      gloo::rendezvous::PrefixStore prefixed("raw", raw_store);
      auto device = gloo::transport::tcp::CreateDevice("127.0.0.1");
      ctx->connectFullMesh(prefixed, device);
      auto mine = Sweep(c, **be, RawGloo(ctx));
      if (r == 0) rows = std::move(mine);
    });
  }
  for (auto& t : threads) t.join();
  Report(c, c.nranks, rows);
  return 0;
}

int RunMpi(const Config& c) {
  auto be = mt::comm::CreateMpiWorldBackend();
  if (!be.ok()) {
    std::fprintf(stderr, "%s\n", std::string(be.status().message()).c_str());
    return 1;
  }
  auto rows = Sweep(c, **be, RawMpi());
  if ((*be)->rank() == 0) Report(c, (*be)->size(), rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::string min_b = "8", max_b = "64M";
  CLI::App app{kOp + "_perf: nccl-tests-style benchmark of meshtrain's " + kOp};
  app.add_option("--backend", c.backend)->check(CLI::IsMember({"gloo", "mpi"}));
  app.add_option("--nranks", c.nranks, "Ranks to spawn (gloo; mpi takes mpirun's -np)");
  app.add_option("-b,--minbytes", min_b);
  app.add_option("-e,--maxbytes", max_b);
  app.add_option("-f,--stepfactor", c.factor);
  app.add_option("-n,--iters", c.iters);
  app.add_option("-w,--warmup_iters", c.warmup);
  app.add_option("--json", c.json);
  CLI11_PARSE(app, argc, argv);
  c.min_bytes = ParseBytes(min_b);
  c.max_bytes = ParseBytes(max_b);
  return c.backend == "gloo" ? RunGloo(c) : RunMpi(c);
}
