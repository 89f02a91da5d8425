// Tensor-parallel reductions (see tp_group.h).
#include "parallelism/tensor_parallel/tp_group.h"

#include "runtime/core/status.h"

namespace mt::tp {

void TpGroup::Reduce(float* data, int64_t n, comm::ReduceOp op) {
  if (!status_.ok() || group_.size() == 1) return;
  ++reductions_;
  comm::Options o;
  o.op = op;
  o.timeout = timeout_;
  absl::Status s = group_.AllReduce(data, n, DType::kF32, o)->Wait(timeout_);
  if (!s.ok()) {
    status_ = Annotate(s, "tensor-parallel all-reduce #" + std::to_string(reductions_));
  }
}

}  // namespace mt::tp
