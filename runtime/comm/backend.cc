// Backend helpers (see backend.h).
#include "runtime/comm/backend.h"

namespace mt::comm {
namespace {

class CompletedWorkImpl final : public Work {
 public:
  explicit CompletedWorkImpl(absl::Status st) : status_(std::move(st)) {}
  absl::Status Wait(std::chrono::milliseconds) override { return status_; }
  bool Done() const override { return true; }

 private:
  absl::Status status_;
};

}  // namespace

std::shared_ptr<Work> CompletedWork(absl::Status status) {
  return std::make_shared<CompletedWorkImpl>(std::move(status));
}

std::string_view ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kAvg:
      return "avg";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMin:
      return "min";
  }
  return "?";
}

}  // namespace mt::comm
