// Data-parallel gradient averaging overlapped with backward (DESIGN §3; PyTorch DDP's
// buckets). Parameters are packed, in reverse model order, into buckets of about
// `bucket_bytes`; when backward reports the last gradient of a bucket final (Model::Backward's
// `ready` hook), the bucket's values are copied into its flat buffer and an asynchronous
// all-reduce (average) starts while backward goes on. Finish() waits for all of them and writes
// the averages back. The step's loss rides in the last bucket, so the whole step costs one
// message per bucket.
//
// Use per step: Begin(loss of this rank); the last micro-batch's Backward(scale, Hook());
// Finish(). Earlier micro-batches accumulate gradients without the hook (no communication).
// Every rank must build its buckets from the same parameter list and bucket size.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "runtime/comm/backend.h"
#include "runtime/nn/model.h"

namespace mt::dp {

class GradBuckets {
 public:
  GradBuckets(std::vector<nn::Parameter*> params, int64_t bucket_bytes, comm::Backend& comm);

  void Begin(double loss);
  nn::GradsReady Hook();
  // Launches what backward did not (a batch without counted targets reports nothing), waits
  // for every bucket, writes the averages into the gradients and returns the mean loss.
  absl::StatusOr<double> Finish();

  int size() const { return static_cast<int>(buckets_.size()); }
  // Seconds Finish() waited for communication, summed over steps: what backward did not hide.
  double exposed_s() const { return exposed_s_; }

 private:
  struct Bucket {
    std::vector<nn::Parameter*> params;
    std::vector<int64_t> offsets;  // of each parameter in `flat`
    std::vector<float> flat;
    std::vector<bool> marked;  // this step, per parameter
    int ready = 0;
    std::shared_ptr<comm::Work> work;
  };
  void MarkReady(nn::Parameter* p);
  // Copies parameter i's gradient into bucket b once; launches b when it is complete.
  void Stage(Bucket& b, int i);
  void Launch(Bucket& b);

  comm::Backend& comm_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const nn::Parameter*, std::pair<int, int>> where_;  // (bucket, index)
  double exposed_s_ = 0;
};

}  // namespace mt::dp
