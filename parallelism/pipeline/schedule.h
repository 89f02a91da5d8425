// Pipeline schedules as pure functions (DESIGN §3 "Mesh and parallelism"): for p stages and m
// micro-batches (and v model chunks per stage for the interleaved schedule), the ordered list
// of actions each stage performs. The executor (later) runs a stage's list with Send/Recv of
// activations and gradients; this file only decides the order, and Simulate() checks it.
//
// Model chunks: with v chunks per stage the model is cut into p*v consecutive pieces; chunk c
// of stage s holds piece c*p + s (Megatron's interleaving). Without interleaving v = 1.
//
//   GPipe:        all forwards, then all backwards. In flight: m per stage.
//   1F1B:         stage s warms up with min(p-s-1, m) forwards, then alternates one forward
//                 and one backward, then drains backwards. In flight: <= p - s.
//   Interleaved:  1F1B over (chunk, micro-batch) pairs taken p micro-batches at a time per
//                 chunk (m must be a multiple of p). Bubble shrinks by v.
// With forward and backward of one chunk taking one slot each, the idle share of a stage is
// (p-1)/(m+p-1) for GPipe and 1F1B and (p-1)/(v*m+p-1) interleaved.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::pipeline {

enum class Op { kForward, kBackward };

struct Action {
  Op op = Op::kForward;
  int micro = 0;  // micro-batch
  int chunk = 0;  // model chunk on this stage (0 without interleaving)
  bool operator==(const Action&) const = default;
};

struct Schedule {
  std::string name;
  int stages = 1, micro_batches = 1, chunks = 1;
  std::vector<std::vector<Action>> per_stage;  // [stage] -> actions in order
};

absl::StatusOr<Schedule> GPipe(int stages, int micro_batches);
absl::StatusOr<Schedule> OneFOneB(int stages, int micro_batches);
absl::StatusOr<Schedule> Interleaved(int stages, int micro_batches, int chunks);
// By job-file name: "gpipe", "1f1b", "interleaved".
absl::StatusOr<Schedule> MakeSchedule(const std::string& name, int stages, int micro_batches,
                                      int chunks);

// Runs a schedule on unit-time slots: an action starts once its inputs exist (the forward of
// the previous model piece, the backward of the next one and its own forward) and the stage's
// previous action ended; sends and receives are instantaneous.
struct Simulation {
  int64_t slots = 0;                // until the last action ends
  std::vector<int64_t> busy;        // [stage] slots working
  std::vector<int> peak_in_flight;  // [stage] most forwards awaiting their backward
  double idle_fraction = 0;         // mean over stages of 1 - busy / slots
  int64_t sends = 0, receives = 0;  // activations + gradients between stages
};
// Errors: an action list that misses, repeats or misorders work (a backward before its
// forward), or deadlocks (names the stage and the action it waits for).
absl::StatusOr<Simulation> Simulate(const Schedule& schedule);

}  // namespace mt::pipeline
