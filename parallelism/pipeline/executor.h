// Runs one stage's schedule (schedule.h) on its part of the model: forwards and backwards of
// model chunks on micro-batches, with activations sent to the next piece and gradients to the
// previous one over the pipeline group (Send/Recv, DESIGN §3).
//
// Messages: the activation of micro-batch m leaving piece k, and the gradient arriving at it,
// travel between the stages holding pieces k and k+1 with tags that name (k, m, direction), so
// a schedule may order them freely. Sends are asynchronous (their buffers are the model's
// per-slot outputs, untouched until the next step) and are waited for at the end of Run.
// Run posts every receive of the step up front (as Megatron batches its isend/irecv), so data
// moves while the stage computes; an action waits only for its own input. Micro-batch m uses
// model slot m.
//
// Failure: a receive that fails (a dead or stuck peer) fails the step at once. The step's
// other transfers are left pending, not waited for (each could hold the full op timeout, on
// destruction too): the executor is then unusable, and its owner must keep it, its buffers and
// the model alive until the process exits (ParallelModel's deleter does).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "parallelism/pipeline/schedule.h"
#include "runtime/comm/backend.h"
#include "runtime/nn/model.h"

namespace mt::pipeline {

struct MicroBatch {
  const int32_t* tokens = nullptr;   // [batch, seq]: every stage
  const int32_t* targets = nullptr;  // [batch, seq]: the head's stage
  int64_t batch = 0, seq = 0;
};

struct StageTimes {
  double compute_s = 0;  // inside forward/backward
  double total_s = 0;    // the whole Run, waits included
};

class Executor {
 public:
  // `group` is the pipeline group (ranked by stage); null with one stage. The model's chunks
  // must be the stage's chunks of the schedule (partition.h).
  Executor(nn::Model& model, Schedule schedule, int stage, comm::Backend* group);

  // One training step: the stage's actions over `micro` (schedule.micro_batches of them). Each
  // backward scales its micro-batch's loss by `loss_scale`. Returns the sum of the head's
  // micro-batch losses times loss_scale on the stage holding the head, else 0.
  absl::StatusOr<double> Run(const std::vector<MicroBatch>& micro, float loss_scale);

  // Forward only (evaluation), micro-batch after micro-batch; on the head's stage `on_head`
  // is called after each micro-batch's head forward with its index and loss (the model's
  // predictions() are in slot 0 until the next micro-batch).
  absl::Status Forward(const std::vector<MicroBatch>& micro,
                       const std::function<void(int micro, float loss)>& on_head);

  const StageTimes& last_times() const { return times_; }
  bool failed() const { return failed_; }
  const Schedule& schedule() const { return schedule_; }

 private:
  int Piece(int chunk) const { return chunk * schedule_.stages + stage_; }
  int StageOf(int piece) const { return piece % schedule_.stages; }
  int Tag(int piece, int micro, int direction) const;
  // Posts the receive of (piece boundary, micro-batch, direction) into its buffer.
  std::shared_ptr<comm::Work> Post(std::vector<float>& into, int64_t n, int from_piece, int tag);
  absl::Status Await(std::shared_ptr<comm::Work>& work, int from_piece);
  void PostAll(const std::vector<MicroBatch>& micro);
  void Send(const float* data, int64_t n, int to_piece, int tag);
  absl::StatusOr<float> DoForward(const Action& a, const MicroBatch& mb);
  absl::Status DoBackward(const Action& a, const MicroBatch& mb, float loss_scale);
  absl::Status WaitSends();
  absl::Status Fail(absl::Status status);

  nn::Model& model_;
  Schedule schedule_;
  int stage_;
  comm::Backend* group_;
  std::vector<std::vector<std::vector<float>>> activations_, gradients_;        // [chunk][micro]
  std::vector<std::vector<std::shared_ptr<comm::Work>>> act_recv_, grad_recv_;  // posted
  std::vector<std::shared_ptr<comm::Work>> sends_;
  StageTimes times_;
  bool failed_ = false;
};

}  // namespace mt::pipeline
