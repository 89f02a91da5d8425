// The tensor-parallel group the model's layers reduce over (nn::TensorParallel, placement.h),
// over a comm::Backend. Layers cannot stop mid-forward, so the first failure is kept: later
// reductions are skipped (the step's numbers are garbage) and status() reports it; the
// trainer checks it after every step and fails the step with it.
#pragma once

#include <chrono>

#include "absl/status/status.h"
#include "runtime/comm/backend.h"
#include "runtime/nn/placement.h"

namespace mt::tp {

class TpGroup final : public nn::TensorParallel {
 public:
  explicit TpGroup(comm::Backend& group,
                   std::chrono::milliseconds timeout = std::chrono::minutes(5))
      : group_(group), timeout_(timeout) {}

  void AllReduceSum(float* data, int64_t n) override { Reduce(data, n, comm::ReduceOp::kSum); }
  void AllReduceMax(float* data, int64_t n) override { Reduce(data, n, comm::ReduceOp::kMax); }
  void AllReduceMin(float* data, int64_t n) override { Reduce(data, n, comm::ReduceOp::kMin); }

  // OK, or the first failed reduction (naming it).
  const absl::Status& status() const { return status_; }
  int64_t reductions() const { return reductions_; }

 private:
  void Reduce(float* data, int64_t n, comm::ReduceOp op);

  comm::Backend& group_;
  std::chrono::milliseconds timeout_;
  absl::Status status_;
  int64_t reductions_ = 0;
};

}  // namespace mt::tp
