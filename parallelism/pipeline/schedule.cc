// Pipeline schedules and their simulation (see schedule.h).
#include "parallelism/pipeline/schedule.h"

#include <algorithm>
#include <map>

#include "fmt/format.h"

namespace mt::pipeline {
namespace {

absl::Status CheckSizes(int p, int m, int v) {
  if (p < 1 || m < 1 || v < 1) {
    return absl::InvalidArgumentError(
        fmt::format("pipeline: stages {}, micro-batches {}, chunks {} must all be >= 1", p, m, v));
  }
  return absl::OkStatus();
}

Action F(int micro, int chunk = 0) { return {Op::kForward, micro, chunk}; }
Action B(int micro, int chunk = 0) { return {Op::kBackward, micro, chunk}; }

std::string Describe(const Action& a) {
  return fmt::format("{}(micro-batch {}, chunk {})", a.op == Op::kForward ? "forward" : "backward",
                     a.micro, a.chunk);
}

}  // namespace

absl::StatusOr<Schedule> GPipe(int p, int m) {
  if (absl::Status s = CheckSizes(p, m, 1); !s.ok()) return s;
  Schedule out{"gpipe", p, m, 1, std::vector<std::vector<Action>>(p)};
  for (int s = 0; s < p; ++s) {
    for (int i = 0; i < m; ++i) out.per_stage[s].push_back(F(i));
    for (int i = 0; i < m; ++i) out.per_stage[s].push_back(B(i));
  }
  return out;
}

absl::StatusOr<Schedule> OneFOneB(int p, int m) {
  if (absl::Status s = CheckSizes(p, m, 1); !s.ok()) return s;
  Schedule out{"1f1b", p, m, 1, std::vector<std::vector<Action>>(p)};
  for (int s = 0; s < p; ++s) {
    auto& a = out.per_stage[s];
    const int warmup = std::min(p - s - 1, m);
    for (int i = 0; i < warmup; ++i) a.push_back(F(i));
    for (int i = 0; i < m - warmup; ++i) {
      a.push_back(F(warmup + i));
      a.push_back(B(i));
    }
    for (int i = m - warmup; i < m; ++i) a.push_back(B(i));
  }
  return out;
}

absl::StatusOr<Schedule> Interleaved(int p, int m, int v) {
  if (absl::Status s = CheckSizes(p, m, v); !s.ok()) return s;
  if (m % p != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "pipeline: the interleaved schedule needs micro-batches ({}) to be a multiple of the "
        "stages ({})",
        m, p));
  }
  Schedule out{"interleaved", p, m, v, std::vector<std::vector<Action>>(p)};
  const int total = m * v;
  // The k-th (chunk, micro-batch) pair: groups of p micro-batches go through chunk 0, then
  // chunk 1, ...; backwards visit the chunks in reverse.
  auto pair = [&](int k, bool forward) {
    const int in_group = k % (p * v);
    int chunk = in_group / p;
    if (!forward) chunk = v - 1 - chunk;
    const int micro = (k / (p * v)) * p + k % p;
    return forward ? F(micro, chunk) : B(micro, chunk);
  };
  for (int s = 0; s < p; ++s) {
    auto& a = out.per_stage[s];
    // Megatron's warm-up: enough forwards that the first backward's inputs exist.
    const int warmup = m == p ? total : std::min(total, (p - s - 1) * 2 + (v - 1) * p);
    for (int k = 0; k < warmup; ++k) a.push_back(pair(k, true));
    for (int k = 0; k < total - warmup; ++k) {
      a.push_back(pair(warmup + k, true));
      a.push_back(pair(k, false));
    }
    for (int k = total - warmup; k < total; ++k) a.push_back(pair(k, false));
  }
  return out;
}

absl::StatusOr<Schedule> MakeSchedule(const std::string& name, int p, int m, int v) {
  if (name == "gpipe") return GPipe(p, m);
  if (name == "1f1b") return OneFOneB(p, m);
  if (name == "interleaved") return Interleaved(p, m, v);
  return absl::InvalidArgumentError(fmt::format("pipeline: unknown schedule '{}'", name));
}

absl::StatusOr<Simulation> Simulate(const Schedule& sc) {
  const int p = sc.stages, m = sc.micro_batches, v = sc.chunks, pieces = p * v;
  if (static_cast<int>(sc.per_stage.size()) != p) {
    return absl::InvalidArgumentError("pipeline: one action list per stage expected");
  }
  // Completion slot of each (piece, micro-batch) forward and backward; -1: not yet.
  std::vector<std::vector<int64_t>> fwd(pieces, std::vector<int64_t>(m, -1)), bwd = fwd;
  // The list itself: each (chunk, micro) forward and backward exactly once, forward first.
  for (int s = 0; s < p; ++s) {
    std::map<std::pair<int, int>, int> seen;  // (chunk, micro) -> 1 forward, 2 backward
    for (const Action& a : sc.per_stage[s]) {
      if (a.micro < 0 || a.micro >= m || a.chunk < 0 || a.chunk >= v) {
        return absl::InvalidArgumentError(
            fmt::format("stage {}: {} is out of range", s, Describe(a)));
      }
      int& state = seen[{a.chunk, a.micro}];
      if ((a.op == Op::kForward && state != 0) || (a.op == Op::kBackward && state != 1)) {
        return absl::InvalidArgumentError(
            fmt::format("stage {}: {} {}", s, Describe(a),
                        a.op == Op::kForward ? "twice" : "before its forward, or twice"));
      }
      state = a.op == Op::kForward ? 1 : 2;
    }
    if (static_cast<int>(seen.size()) != m * v ||
        std::any_of(seen.begin(), seen.end(), [](const auto& e) { return e.second != 2; })) {
      return absl::InvalidArgumentError(fmt::format("stage {}: not every micro-batch runs", s));
    }
  }
  Simulation sim;
  sim.busy.assign(p, 0);
  sim.peak_in_flight.assign(p, 0);
  std::vector<size_t> next(p, 0);
  std::vector<int> in_flight(p, 0);
  size_t left = 0;
  for (const auto& list : sc.per_stage) left += list.size();
  for (int64_t t = 0; left > 0; ++t) {
    bool progressed = false;
    for (int s = 0; s < p; ++s) {
      if (next[s] == sc.per_stage[s].size()) continue;
      const Action& a = sc.per_stage[s][next[s]];
      const int g = a.chunk * p + s;
      auto ready = [t](int64_t done) { return done >= 0 && done <= t; };
      const bool ok = a.op == Op::kForward ? (g == 0 || ready(fwd[g - 1][a.micro]))
                                           : ready(fwd[g][a.micro]) &&
                                                 (g == pieces - 1 || ready(bwd[g + 1][a.micro]));
      if (!ok) continue;
      (a.op == Op::kForward ? fwd : bwd)[g][a.micro] = t + 1;
      if (a.op == Op::kForward) {
        sim.peak_in_flight[s] = std::max(sim.peak_in_flight[s], ++in_flight[s]);
        sim.sends += g < pieces - 1;
        sim.receives += g > 0;
      } else {
        --in_flight[s];
        sim.sends += g > 0;
        sim.receives += g < pieces - 1;
      }
      ++sim.busy[s];
      ++next[s];
      --left;
      progressed = true;
      sim.slots = t + 1;
    }
    if (!progressed) {
      // Nothing ran in this slot and nothing is running (actions end within their slot).
      for (int s = 0; s < p; ++s) {
        if (next[s] < sc.per_stage[s].size()) {
          return absl::FailedPreconditionError(
              fmt::format("{}: deadlock: stage {} waits forever to run {}", sc.name, s,
                          Describe(sc.per_stage[s][next[s]])));
        }
      }
    }
  }
  double idle = 0;
  for (int s = 0; s < p; ++s) idle += 1.0 - static_cast<double>(sim.busy[s]) / sim.slots;
  sim.idle_fraction = idle / p;
  return sim;
}

}  // namespace mt::pipeline
