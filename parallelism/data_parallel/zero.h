// ZeRO stage 1 (DESIGN §3): the AdamW moments are sharded over the data-parallel group. The
// parameters are laid end to end in one flat index space (Parameters() order), padded to a
// multiple of dp; rank r owns elements [r*S, (r+1)*S). Per step: ReduceScatter() averages the
// gradients and leaves this rank its range; Step() runs AdamW on that range only (the same
// per-element update the unsharded optimizer does) and all-gathers the updated parameters, so
// every rank ends the step with identical full parameters.
//
// Memory: m and v cost 2 * S floats per rank, 1/dp of the unsharded optimizer's (state_bytes).
// A checkpoint save or restore holds the whole moments for its duration (GatherMoments).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/comm/backend.h"
#include "runtime/nn/parameter.h"
#include "runtime/optim/adamw.h"

namespace mt::dp {

class ZeroOptimizer {
 public:
  ZeroOptimizer(std::vector<nn::Parameter*> params, const optim::AdamWConfig& config,
                comm::Backend& group);

  // Averages the gradients over the group; this rank keeps its shard of the result.
  absl::Status ReduceScatter();
  // Sum of squares of this rank's gradient shard, parameter i's elements weighted by
  // weights[i]. Summed over the group (and the other mesh axes) it is the squared global norm.
  double ShardSquaredNorm(const std::vector<double>& weights) const;
  // AdamW on this rank's shard with the given global norm (clipping; not finite: nothing
  // changes and no collective runs — every rank sees the same norm), then all-gathers the
  // parameters.
  absl::StatusOr<optim::StepStats> Step(double lr, double grad_norm);

  // Optimizer-state bytes this rank holds (m and v of its shard).
  int64_t state_bytes() const { return static_cast<int64_t>(2 * m_.size() * sizeof(float)); }
  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }
  // Checkpoints: the full moments of every parameter, gathered from the group (collective),
  // and the inverse (each rank keeps its shard of the given full moments).
  absl::Status GatherMoments(std::vector<Tensor>& m, std::vector<Tensor>& v);
  void LoadMoments(const std::vector<Tensor>& m, const std::vector<Tensor>& v);

 private:
  // Calls f(param index, first element in the parameter, first element in the shard, count)
  // for every run of this rank's shard.
  template <typename F>
  void ForShard(F f) const;
  absl::Status Gather(std::vector<float>& flat);

  std::vector<nn::Parameter*> params_;
  optim::AdamWConfig config_;
  comm::Backend& group_;
  std::vector<int64_t> offsets_;            // of each parameter in the flat space
  int64_t shard_ = 0;                       // S
  std::vector<float> flat_, grad_, m_, v_;  // flat_: dp * S staging; the rest S
  int64_t step_ = 0;
};

}  // namespace mt::dp
