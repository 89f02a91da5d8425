// Pipeline executor (see executor.h).
#include "parallelism/pipeline/executor.h"

#include <chrono>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

Executor::Executor(nn::Model& model, Schedule schedule, int stage, comm::Backend* group)
    : model_(model), schedule_(std::move(schedule)), stage_(stage), group_(group) {
  MT_CHECK(model.chunks() == schedule_.chunks && (group != nullptr || schedule_.stages == 1));
  for (auto* v : {&activations_, &gradients_}) {
    v->assign(schedule_.chunks, std::vector<std::vector<float>>(schedule_.micro_batches));
  }
  for (auto* v : {&act_recv_, &grad_recv_}) {
    v->assign(schedule_.chunks, std::vector<std::shared_ptr<comm::Work>>(schedule_.micro_batches));
  }
}

// Unique per (boundary piece, micro-batch, direction) within a step; the same values recur
// every step, and a pair's messages with one tag arrive in order.
int Executor::Tag(int piece, int micro, int direction) const {
  return (piece * schedule_.micro_batches + micro) * 2 + direction;
}

std::shared_ptr<comm::Work> Executor::Post(std::vector<float>& into, int64_t n, int from_piece,
                                           int tag) {
  into.resize(n);
  return group_->Recv(into.data(), n, DType::kF32, StageOf(from_piece), tag);
}

absl::Status Executor::Await(std::shared_ptr<comm::Work>& work, int from_piece) {
  absl::Status s = work->Wait(comm::Options{}.timeout);
  work.reset();
  return Annotate(
      s, fmt::format("pipeline stage {}: receive from stage {}", stage_, StageOf(from_piece)));
}

void Executor::PostAll(const std::vector<MicroBatch>& micro) {
  for (const Action& a : schedule_.per_stage[stage_]) {
    const int piece = Piece(a.chunk);
    const int64_t n = micro[a.micro].batch * micro[a.micro].seq * model_.dims().d_model;
    if (a.op == Op::kForward && !model_.has_embedding(a.chunk)) {
      act_recv_[a.chunk][a.micro] =
          Post(activations_[a.chunk][a.micro], n, piece - 1, Tag(piece - 1, a.micro, 0));
    } else if (a.op == Op::kBackward && !model_.has_head(a.chunk)) {
      grad_recv_[a.chunk][a.micro] =
          Post(gradients_[a.chunk][a.micro], n, piece + 1, Tag(piece, a.micro, 1));
    }
  }
}

void Executor::Send(const float* data, int64_t n, int to_piece, int tag) {
  sends_.push_back(group_->Send(data, n, DType::kF32, StageOf(to_piece), tag));
}

absl::StatusOr<float> Executor::DoForward(const Action& a, const MicroBatch& mb) {
  const int piece = Piece(a.chunk);
  const int64_t n = mb.batch * mb.seq * model_.dims().d_model;
  const float* x = nullptr;
  if (!model_.has_embedding(a.chunk)) {
    auto& work = act_recv_[a.chunk][a.micro];
    if (!work)
      work = Post(activations_[a.chunk][a.micro], n, piece - 1, Tag(piece - 1, a.micro, 0));
    MT_RETURN_IF_ERROR(Await(work, piece - 1));
    x = activations_[a.chunk][a.micro].data();
  }
  const auto t = Clock::now();
  const bool head = model_.has_head(a.chunk);
  const float loss = model_.ForwardChunk(a.chunk, a.micro, mb.tokens, head ? mb.targets : nullptr,
                                         mb.batch, mb.seq, x);
  times_.compute_s += Since(t);
  if (!head) Send(model_.Output(a.chunk, a.micro), n, piece + 1, Tag(piece, a.micro, 0));
  return loss;
}

absl::Status Executor::DoBackward(const Action& a, const MicroBatch& mb, float loss_scale) {
  const int piece = Piece(a.chunk);
  const int64_t n = mb.batch * mb.seq * model_.dims().d_model;
  const float* dy = nullptr;
  if (!model_.has_head(a.chunk)) {
    auto& work = grad_recv_[a.chunk][a.micro];
    if (!work) work = Post(gradients_[a.chunk][a.micro], n, piece + 1, Tag(piece, a.micro, 1));
    MT_RETURN_IF_ERROR(Await(work, piece + 1));
    dy = gradients_[a.chunk][a.micro].data();
  }
  const auto t = Clock::now();
  model_.BackwardChunk(a.chunk, a.micro, dy, loss_scale);
  times_.compute_s += Since(t);
  if (!model_.has_embedding(a.chunk)) {
    Send(model_.InputGrad(a.chunk, a.micro), n, piece - 1, Tag(piece - 1, a.micro, 1));
  }
  return absl::OkStatus();
}

absl::Status Executor::Fail(absl::Status status) {
  failed_ = true;  // pending transfers stay as they are: see executor.h
  return status;
}

absl::Status Executor::WaitSends() {
  for (auto& w : sends_) {
    absl::Status s = w->Wait(comm::Options{}.timeout);
    if (!s.ok()) return Fail(Annotate(s, fmt::format("pipeline stage {}: send", stage_)));
  }
  sends_.clear();
  return absl::OkStatus();
}

absl::StatusOr<double> Executor::Run(const std::vector<MicroBatch>& micro, float loss_scale) {
  MT_CHECK(static_cast<int>(micro.size()) == schedule_.micro_batches && !failed_);
  const auto start = Clock::now();
  times_ = {};
  double loss = 0;
  absl::Status status;
  PostAll(micro);
  for (const Action& a : schedule_.per_stage[stage_]) {
    if (a.op == Op::kForward) {
      auto l = DoForward(a, micro[a.micro]);
      if (!l.ok()) {
        status = l.status();
        break;
      }
      loss += *l * loss_scale;
    } else if (status = DoBackward(a, micro[a.micro], loss_scale); !status.ok()) {
      break;
    }
  }
  if (!status.ok()) return Fail(status);
  MT_RETURN_IF_ERROR(WaitSends());
  times_.total_s = Since(start);
  return loss;
}

absl::Status Executor::Forward(const std::vector<MicroBatch>& micro,
                               const std::function<void(int micro, float loss)>& on_head) {
  // Every micro-batch uses slot 0 (evaluation may run more micro-batches than a step has), so
  // its sends complete before the next one overwrites the slot.
  MT_CHECK(!failed_);
  for (int m = 0; m < static_cast<int>(micro.size()); ++m) {
    absl::Status status;
    for (int c = 0; c < schedule_.chunks && status.ok(); ++c) {
      auto loss = DoForward(Action{Op::kForward, 0, c}, micro[m]);
      if (!loss.ok()) {
        status = loss.status();
      } else if (model_.has_head(c) && on_head) {
        on_head(m, *loss);
      }
    }
    if (!status.ok()) return Fail(status);
    MT_RETURN_IF_ERROR(WaitSends());
  }
  return absl::OkStatus();
}

}  // namespace mt::pipeline
