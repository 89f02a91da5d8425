// One rank's part of a (dp, tp, pp) mesh and the step that trains it (DESIGN §3): the model
// slice (tensor-parallel placement, pipeline chunks), its optimizer (AdamW, or ZeRO-1 over the
// dp group), and per step: micro-batches through the model (one process per stage: forward
// and backward in turn; several stages: the pipeline executor running the job's schedule),
// the tied embedding's gradient summed between the first and last stage, gradients averaged
// over dp (buckets overlapped with the last backward, or ZeRO's reduce-scatter), the global
// gradient norm with every parameter counted once, and the update.
//
// Every rank of the mesh ends a step with the loss of the whole global batch, and the mesh's
// parameters equal (to fp32 rounding) those of a single process taking the same steps: the
// equivalence tests hold it to that.
//
// device: cuda (one process so far): the step runs on the GPU through a DeviceModel, made at
// the first step from the host model and optimizer (after any restore); model() and the
// optimizer state are then its copy, current after SyncHost(true).
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "parallelism/data_parallel/buckets.h"
#include "parallelism/data_parallel/zero.h"
#include "parallelism/mesh/mesh.h"
#include "parallelism/pipeline/executor.h"
#include "parallelism/tensor_parallel/tp_group.h"
#include "runtime/comm/backend.h"
#include "runtime/data/index.h"
#include "runtime/data/loader.h"
#include "runtime/nn/model.h"
#include "runtime/optim/adamw.h"
#include "train/batch.h"
#include "train/device_model.h"
#include "train/evaluate.h"

namespace mt::train {

class ParallelModel {
 public:
  // Deletes a ParallelModel unless one of its collectives failed: then transfers may still be
  // in flight to or from its buffers (a dead peer holds them for the op timeout, also while
  // being destroyed), so it is left alone until the process exits, which follows.
  struct Deleter {
    void operator()(ParallelModel* p) const {
      if (!p->failed_) delete p;
    }
  };
  using Ptr = std::unique_ptr<ParallelModel, Deleter>;

  // `world` ranked as the mesh in spec.mesh (null: one process). Collective over world: it
  // splits the tp, dp and pp groups (and the tied-embedding group when pp > 1).
  static absl::StatusOr<Ptr> Create(const meshtrain::v1::JobSpec& spec, comm::Backend* world);

  // One optimizer step on this dp rank's slice of the global batch (`mine`, all ranks of a
  // dp rank get the same). The loss is the global batch's, on every rank.
  absl::StatusOr<StepResult> Step(const data::Samples& mine, const data::DatasetIndex& index,
                                  double lr);
  // Evaluation forward of one batch (all ranks of a dp rank run the same batch). On a device,
  // evaluation runs on the host copy: call SyncHost(false) first.
  EvalForward EvalFn();
  // device: cuda: makes model() (and, with `optimizer`, the optimizer state) the device's:
  // values before evaluating or writing the final model, both before a checkpoint save. A
  // no-op on the CPU.
  absl::Status SyncHost(bool optimizer);

  // The whole model on world rank 0 (null elsewhere): every parameter gathered from the
  // ranks holding it. Collective over the world.
  absl::StatusOr<std::unique_ptr<nn::Model>> GatherFull();

  // Checkpoints: the optimizer state as whole tensors per parameter. Under ZeRO-1 a full-size
  // copy that GatherState() fills from the shards (collective over dp) before a save and
  // ScatterState() hands back to them after a restore; otherwise AdamW itself (both no-ops).
  // The copy exists only between GatherState and ReleaseState (after the save returned: an
  // async save has its snapshot by then), and from CheckpointState until ScatterState.
  optim::AdamW& CheckpointState();
  absl::Status GatherState();
  void ScatterState();
  void ReleaseState() { gathered_.reset(); }

  nn::Model& model() { return *model_; }
  optim::AdamW* adamw() { return adamw_.get(); }     // null under ZeRO-1
  dp::ZeroOptimizer* zero() { return zero_.get(); }  // null without
  const mesh::Shape& shape() const { return shape_; }
  const mesh::Coords& coords() const { return coords_; }
  bool lead() const { return world_ == nullptr || world_->rank() == 0; }
  // Groups along one axis: null when the axis has size 1.
  comm::Backend* dp_group() { return Axis(groups_.dp); }
  comm::Backend* pp_group() { return Axis(groups_.pp); }
  comm::Backend* tp_group() { return Axis(groups_.tp); }
  const dp::GradBuckets* buckets() const { return buckets_ ? &*buckets_ : nullptr; }
  const pipeline::Executor* executor() const { return executor_.get(); }

 private:
  ParallelModel() = default;
  // Create's parts, in order: the mesh groups, this rank's model slice, its optimizer (and
  // gradient buckets), the pipeline executor.
  absl::Status JoinMesh();
  absl::Status MakeModel();
  void MakeOptimizer();
  absl::Status MakeExecutor();
  // Marks the model failed (see Deleter) when `s` is an error.
  absl::Status Check(absl::Status s) {
    failed_ |= !s.ok();
    return s;
  }
  static comm::Backend* Axis(const std::unique_ptr<comm::Backend>& g) {
    return g && g->size() > 1 ? g.get() : nullptr;
  }
  absl::StatusOr<StepResult> TrainStep(const data::Samples& mine, const data::DatasetIndex& index,
                                       double lr);
  // Fills micro_ with this step's micro-batches.
  void BuildMicroBatches(const data::Samples& mine, const data::DatasetIndex& index);
  absl::StatusOr<double> ForwardBackward(const data::Samples& mine,
                                         const data::DatasetIndex& index);
  absl::StatusOr<StepResult> DeviceStep(const data::Samples& mine, const data::DatasetIndex& index,
                                        double lr);
  absl::Status SyncGradients(double& loss);
  absl::StatusOr<double> GlobalNorm();
  absl::Status SumOver(comm::Backend* group, float* data, int64_t n, const char* what);

  meshtrain::v1::JobSpec spec_;
  comm::Backend* world_ = nullptr;
  mesh::Shape shape_;
  mesh::Coords coords_;
  mesh::Groups groups_;
  std::unique_ptr<comm::Backend> tied_;  // first and last stage, same (dp, tp); pp > 1
  std::unique_ptr<tp::TpGroup> tp_ops_;
  std::unique_ptr<nn::Model> model_;
  std::unique_ptr<optim::AdamW> adamw_;
  std::unique_ptr<dp::ZeroOptimizer> zero_;
  std::unique_ptr<optim::AdamW> gathered_;  // ZeRO-1: the whole moments, for checkpoints
  std::optional<dp::GradBuckets> buckets_;
  std::unique_ptr<pipeline::Executor> executor_;
  std::vector<double> norm_weights_;  // per parameter: 1 counted here, 0 a copy counted elsewhere
  std::vector<Batch> micro_;
  std::unique_ptr<DeviceModel> device_;  // device: cuda, from the first step on
  bool failed_ = false;
};

}  // namespace mt::train
