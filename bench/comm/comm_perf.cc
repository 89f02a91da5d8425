// nccl-tests-style benchmark of one collective through meshtrain's Backend, next to the raw
// engine call on the same buffers (plain gloo::allreduce / MPI_Allreduce ...), so the cost of
// our layer is measured, not guessed. Built once per op (allreduce_perf, allgather_perf,
// reducescatter_perf, broadcast_perf).
//   allreduce_perf --backend gloo --nranks 4 [-b 8] [-e 256M] [-f 2] [-n 20] [-w 5] [--json F]
//   mpirun -np 4 allreduce_perf --backend mpi ...
// Columns: size count type redop root, then for out-of-place and in-place each: time(us)
// algbw busbw #wrong raw_bw ratio. busbw uses nccl-tests' factors: allreduce 2(n-1)/n,
// allgather and reducescatter (n-1)/n, broadcast 1. Placements as NCCL defines them.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
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

bool Gathers() { return kOp == "allgather"; }
bool Scatters() { return kOp == "reducescatter"; }

// Elements in each rank's input for a message of `bytes` (nccl-tests: size is the total
// buffer, so allgather/reducescatter per-rank counts are size / n).
int64_t CountFor(int64_t bytes, int n) {
  const int64_t elems = bytes / 4;
  return (Gathers() || Scatters()) ? elems / n : elems;
}

// The message's elements (nccl-tests' count and size): the inverse of CountFor.
int64_t TotalCount(int64_t count, int n) { return (Gathers() || Scatters()) ? count * n : count; }

// One rank's buffers for a size, allocated once and shared by both placements and both sides
// (fresh allocations between phases cost page faults and MPI memory registration, which made
// whichever side ran second look 2-3x slower).
struct Buffers {
  std::vector<float> in, out;
};

Buffers Make(int64_t count, int n) {
  Buffers b;
  b.in.resize(Scatters() ? count * n : count);
  b.out.resize(Gathers() ? count * n : count);
  return b;
}

// Where an op reads and writes, as NCCL defines the placements: out of place, `in` -> `out`;
// in place, allreduce/broadcast work on `out`, reducescatter leaves block `rank` of `in` where
// it is, allgather gathers into `out` from this rank's block of it.
struct Ptrs {
  const float* send;
  float* recv;
};

Ptrs PtrsFor(Buffers& b, bool in_place, int rank, int64_t count) {
  if (!in_place) return {b.in.data(), b.out.data()};
  if (Scatters()) return {b.in.data(), b.in.data() + rank * count};
  if (Gathers()) return {b.out.data() + rank * count, b.out.data()};
  return {b.out.data(), b.out.data()};
}

// Every input element = rank + 1 (both buffers, so in-place sources hold it too).
void Reset(Buffers& b, int rank) {
  std::fill(b.in.begin(), b.in.end(), static_cast<float>(rank + 1));
  std::fill(b.out.begin(), b.out.end(), static_cast<float>(rank + 1));
}

// Inputs for the correctness check: what the op reads holds rank + 1, everything it must
// write holds a sentinel, so an op that reads the wrong buffer or skips a write is caught.
void PrepareCheck(Buffers& b, bool in_place, int rank, int64_t count) {
  const float mine = static_cast<float>(rank + 1), sentinel = -7.0f;
  std::fill(b.in.begin(), b.in.end(), mine);
  std::fill(b.out.begin(), b.out.end(), sentinel);
  if (!in_place || Scatters()) return;  // in-place reduce-scatter reads and writes `in`
  if (Gathers()) {
    std::fill(b.out.begin() + rank * count, b.out.begin() + (rank + 1) * count, mine);
  } else if (kOp == "allreduce" || rank == 0) {  // broadcast: only the root's buffer is read
    std::fill(b.out.begin(), b.out.end(), mine);
  }
}

// Count of wrong output elements after one run of the op from PrepareCheck's inputs (broadcast:
// root 0 holds 1).
int64_t Wrong(const Ptrs& p, int64_t count, int n) {
  const int64_t total = Gathers() ? count * n : count;
  const float sum = n * (n + 1) / 2.0f;
  int64_t wrong = 0;
  for (int64_t i = 0; i < total; ++i) {
    float want = sum;
    if (kOp == "broadcast") want = 1.0f;
    if (Gathers()) want = static_cast<float>(i / count + 1);
    wrong += std::fabs(p.recv[i] - want) > 1e-3f;
  }
  return wrong;
}

// Runs our op once.
absl::Status RunOurs(mt::comm::Backend& be, const Ptrs& p, int64_t count) {
  using mt::DType;
  const auto t = std::chrono::minutes(5);
  if (kOp == "allreduce") return be.AllReduce(p.send, p.recv, count, DType::kF32)->Wait(t);
  if (kOp == "broadcast") return be.Broadcast(p.send, p.recv, count, DType::kF32, 0)->Wait(t);
  if (Gathers()) return be.AllGather(p.send, p.recv, count, DType::kF32)->Wait(t);
  return be.ReduceScatter(p.send, p.recv, count, DType::kF32)->Wait(t);
}

// The same op straight on the engine, bypassing our layer, each placement the engine's own
// way: Gloo's input-less (in place) and input+output forms, MPI_IN_PLACE.
using RawFn = std::function<void(const Ptrs&, bool in_place, int64_t count)>;

RawFn RawGloo(std::shared_ptr<gloo::rendezvous::Context> ctx) {
  auto scratch = std::make_shared<std::vector<float>>();
  return [ctx, scratch](const Ptrs& p, bool in_place, int64_t count) {
    if (count == 0) return;
    float* send = const_cast<float*>(p.send);
    const auto sum =
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>);
    if (kOp == "allreduce") {
      gloo::AllreduceOptions o(ctx);
      if (!in_place) o.setInput(send, count);
      o.setOutput(p.recv, count);
      o.setReduceFunction(sum);
      gloo::allreduce(o);
    } else if (kOp == "broadcast") {
      gloo::BroadcastOptions o(ctx);
      if (!in_place && ctx->rank == 0) o.setInput(send, count);
      o.setOutput(p.recv, count);
      o.setRoot(0);
      gloo::broadcast(o);
    } else if (Gathers()) {
      gloo::AllgatherOptions o(ctx);
      if (!in_place) o.setInput(send, count);
      o.setOutput(p.recv, count * ctx->size);
      gloo::allgather(o);
    } else {  // reducescatter: what our Gloo backend does (allreduce of the full buffer)
      const int64_t total = count * ctx->size;
      if (!in_place && static_cast<int64_t>(scratch->size()) < total) scratch->resize(total);
      gloo::AllreduceOptions o(ctx);
      if (!in_place) o.setInput(send, total);
      o.setOutput(in_place ? send : scratch->data(), total);
      o.setReduceFunction(sum);
      gloo::allreduce(o);
    }
  };
}

RawFn RawMpi() {
  return [](const Ptrs& p, bool in_place, int64_t count) {
    const int c = static_cast<int>(count);
    const void* send = in_place ? MPI_IN_PLACE : p.send;
    if (kOp == "allreduce") MPI_Allreduce(send, p.recv, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (kOp == "broadcast") {  // MPI has no out-of-place form: the root copies first
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      if (!in_place && rank == 0) std::memcpy(p.recv, p.send, count * sizeof(float));
      MPI_Bcast(p.recv, c, MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
    if (Gathers()) {
      MPI_Allgather(send, in_place ? 0 : c, in_place ? MPI_DATATYPE_NULL : MPI_FLOAT, p.recv, c,
                    MPI_FLOAT, MPI_COMM_WORLD);
    }
    if (Scatters()) {  // in place, MPI leaves the block at the start of the buffer
      void* recv = in_place ? const_cast<float*>(p.send) : p.recv;
      MPI_Reduce_scatter_block(send, recv, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
  };
}

// One placement's numbers at one size.
struct Result {
  double time_us = 0, algbw = 0, busbw = 0, raw_busbw = 0;
  int64_t wrong = 0;
  double ratio() const { return raw_busbw > 0 ? busbw / raw_busbw : 0; }
};

struct Row {
  int64_t bytes, count;
  Result out_of_place, in_place;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Times one placement at one size, ours against raw, then checks one run of ours.
Result Measure(const Config& c, mt::comm::Backend& be, const RawFn& raw, Buffers& b, bool in_place,
               int64_t count) {
  const int n = be.size(), rank = be.rank();
  const Ptrs p = PtrsFor(b, in_place, rank, count);
  // Raw and ours run interleaved, one call each per iteration, first one then the other in
  // turn, and each side's time is the median of its calls: both see the same moments of this
  // shared host, and a descheduled call does not move the median. (Averages of separate
  // phases swung by 2-5x here at small sizes.) In-place sums grow from call to call; only
  // the check below needs exact values.
  Reset(b, rank);
  const auto ours_once = [&] { RunOurs(be, p, count).IgnoreError(); };
  const auto raw_once = [&] { raw(p, in_place, count); };
  for (int i = 0; i < c.warmup; ++i) {
    raw_once();
    ours_once();
  }
  be.Barrier()->Wait(std::chrono::minutes(5)).IgnoreError();
  std::vector<double> ours(c.iters), theirs(c.iters);
  for (int i = 0; i < c.iters; ++i) {
    for (int side = 0; side < 2; ++side) {
      const bool ours_now = (side == 0) == (i % 2 == 0);
      const auto t0 = Clock::now();
      ours_now ? ours_once() : raw_once();
      (ours_now ? ours : theirs)[i] = std::chrono::duration<double>(Clock::now() - t0).count();
    }
  }
  const double ours_s = Median(ours), theirs_s = Median(theirs);
  PrepareCheck(b, in_place, rank, count);
  RunOurs(be, p, count).IgnoreError();
  const double size = 4.0 * TotalCount(count, n);
  Result r;
  r.time_us = ours_s * 1e6;
  r.algbw = size / ours_s / 1e9;
  r.busbw = r.algbw * BusFactor(n);
  r.raw_busbw = size / theirs_s / 1e9 * BusFactor(n);
  // Every rank's wrong elements (MPI's in-place reduce-scatter moves blocks on ranks > 0 only;
  // broadcast writes the other ranks).
  float wrong = static_cast<float>(Wrong(p, count, n));
  be.AllReduce(&wrong, 1, mt::DType::kF32)->Wait(std::chrono::minutes(5)).IgnoreError();
  r.wrong = static_cast<int64_t>(wrong);
  return r;
}

// One rank's sweep; rank 0's rows are the report.
std::vector<Row> Sweep(const Config& c, mt::comm::Backend& be, const RawFn& raw) {
  std::vector<Row> rows;
  const int n = be.size();
  for (double bytes = c.min_bytes; bytes <= c.max_bytes; bytes *= c.factor) {
    const int64_t count = CountFor(static_cast<int64_t>(bytes), n);
    Buffers b = Make(count, n);
    const int64_t total = TotalCount(count, n);
    Row row{4 * total, total, {}, {}};
    row.out_of_place = Measure(c, be, raw, b, false, count);
    row.in_place = Measure(c, be, raw, b, true, count);
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json JsonRow(const Row& r, bool in_place) {
  const Result& x = in_place ? r.in_place : r.out_of_place;
  return {{"op", kOp},
          {"bytes", r.bytes},
          {"count", r.count},
          {"dtype", "float"},
          {"in_place", in_place},
          {"time_us", x.time_us},
          {"algbw", x.algbw},
          {"busbw", x.busbw},
          {"wrong", x.wrong},
          {"raw_busbw", x.raw_busbw},
          {"ratio_vs_raw", x.ratio()}};
}

// nccl-tests' layout, each placement followed by the raw engine's busbw and our ratio to it;
// then nccl-tests' summary lines and the worst ratio at sizes >= 64 KiB (the goal).
void Report(const Config& c, int n, const std::vector<Row>& rows) {
  std::printf("# %s_perf: backend %s, %d ranks, %d iters (%d warm-up), median times\n", kOp.c_str(),
              c.backend.c_str(), n, c.iters, c.warmup);
  std::printf("#%40s %-54s %s\n", "", "out-of-place", "in-place");
  std::printf("%12s %11s %5s %5s %5s", "size", "count", "type", "redop", "root");
  for (int i = 0; i < 2; ++i) {
    std::printf(" %9s %7s %7s %6s %7s %6s", "time(us)", "algbw", "busbw", "#wrong", "raw_bw",
                "ratio");
  }
  std::printf("\n");
  nlohmann::json results = nlohmann::json::array();
  int64_t wrong = 0;
  double bus_sum = 0, worst = 1e30;
  std::string worst_at = "none";
  for (const Row& r : rows) {
    std::printf("%12ld %11ld %5s %5s %5d", r.bytes, r.count, "float", "sum",
                kOp == "broadcast" ? 0 : -1);
    for (bool in_place : {false, true}) {
      const Result& x = in_place ? r.in_place : r.out_of_place;
      std::printf(" %9.1f %7.3f %7.3f %6ld %7.3f %6.3f", x.time_us, x.algbw, x.busbw, x.wrong,
                  x.raw_busbw, x.ratio());
      results.push_back(JsonRow(r, in_place));
      wrong += x.wrong;
      bus_sum += x.busbw;
      if (r.bytes >= (64 << 10) && x.ratio() < worst) {
        worst = x.ratio();
        worst_at = fmt::format("{} bytes {}", r.bytes, in_place ? "in-place" : "out-of-place");
      }
    }
    std::printf("\n");
  }
  std::printf("# Out of bounds values : %ld %s\n", wrong, wrong == 0 ? "OK" : "WRONG");
  std::printf("# Avg bus bandwidth    : %.3f GB/s\n",
              rows.empty() ? 0 : bus_sum / (2 * rows.size()));
  if (worst < 1e30) std::printf("# Lowest ratio >= 64 KiB: %.3f (%s)\n", worst, worst_at.c_str());
  if (!c.json.empty()) {
    nlohmann::json j = mt::bench::RunInfo();
    j["config"] = {{"op", kOp},
                   {"backend", c.backend},
                   {"nranks", n},
                   {"iters", c.iters},
                   {"warmup", c.warmup},
                   {"time", "median"},
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
