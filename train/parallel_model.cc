// A rank's part of the mesh and its training step (see parallel_model.h).
#include "train/parallel_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "fmt/format.h"
#include "parallelism/pipeline/partition.h"
#include "runtime/core/status.h"
#include "runtime/nn/models.h"

namespace mt::train {
namespace {

using meshtrain::v1::JobSpec;

optim::AdamWConfig AdamWConfigFrom(const meshtrain::v1::TrainSpec& t) {
  optim::AdamWConfig c;
  c.beta1 = t.beta1();
  c.beta2 = t.beta2();
  c.eps = t.eps();
  c.weight_decay = t.weight_decay();
  c.clip = t.clip();
  return c;
}

int VirtualStages(const JobSpec& spec) { return std::max(1, spec.parallel().virtual_stages()); }

// The pipeline stage that holds layer `l`.
int StageOfLayer(int64_t n_layer, int stages, int chunks, int64_t l) {
  for (int piece = 0; piece < stages * chunks; ++piece) {
    auto [first, last] = pipeline::PieceLayers(n_layer, stages * chunks, piece);
    if (l >= first && l < last) return piece % stages;
  }
  return stages - 1;
}

// Which stage holds a parameter of the whole model, by name: the embedding end the first,
// the head end the last layer's.
int StageOfParameter(const nn::Model& model, const std::string& name, int stages, int chunks) {
  const int64_t n_layer = model.dims().n_layer;
  const int64_t layer = model.LayerOfParameter(name).value_or(n_layer);
  if (layer < 0) return 0;
  return StageOfLayer(n_layer, stages, chunks, std::min(layer, n_layer - 1));
}

}  // namespace

absl::StatusOr<ParallelModel::Ptr> ParallelModel::Create(const JobSpec& spec,
                                                         comm::Backend* world) {
  Ptr pm(new ParallelModel());
  pm->spec_ = spec;
  pm->world_ = world;
  MT_RETURN_IF_ERROR(pm->JoinMesh());
  MT_RETURN_IF_ERROR(pm->MakeModel());
  pm->MakeOptimizer();
  MT_RETURN_IF_ERROR(pm->MakeExecutor());
  return pm;
}

absl::Status ParallelModel::JoinMesh() {
  shape_ = {spec_.mesh().dp(), spec_.mesh().tp(), spec_.mesh().pp()};
  if (world_ == nullptr) {
    shape_ = {};
    return absl::OkStatus();
  }
  MT_ASSIGN_OR_RETURN(groups_, mesh::MakeGroups(*world_, shape_));
  coords_ = mesh::CoordsOf(shape_, world_->rank());
  if (shape_.pp > 1) {
    // The tied embedding lives on the first and the last stage: a group per (dp, tp).
    const bool ends = coords_.pp == 0 || coords_.pp == shape_.pp - 1;
    MT_ASSIGN_OR_RETURN(tied_,
                        world_->Split(ends ? coords_.dp * shape_.tp + coords_.tp : -1, coords_.pp));
  }
  return absl::OkStatus();
}

absl::Status ParallelModel::MakeModel() {
  nn::Placement placement;
  placement.tp = shape_.tp;
  placement.tp_rank = coords_.tp;
  if (shape_.tp > 1) {
    tp_ops_ = std::make_unique<tp::TpGroup>(*groups_.tp);
    placement.group = tp_ops_.get();
  }
  placement.chunks =
      pipeline::StageChunks(spec_.model().n_layer(), shape_.pp, VirtualStages(spec_), coords_.pp);
  MT_ASSIGN_OR_RETURN(model_,
                      nn::CreateModel(spec_.model(), static_cast<uint64_t>(spec_.train().seed()),
                                      std::move(placement)));
  model_->set_predict(false);  // training needs no arg-max; EvalFn turns it on
  for (const nn::Parameter* p : model_->Parameters()) {
    const bool copy = (p->partition.replicated() && coords_.tp != 0) || model_->IsTiedCopy(p);
    norm_weights_.push_back(copy ? 0.0 : 1.0);
  }
  return absl::OkStatus();
}

void ParallelModel::MakeOptimizer() {
  const auto params = model_->Parameters();
  const optim::AdamWConfig opt = AdamWConfigFrom(spec_.train());
  if (spec_.parallel().zero() == 1 && dp_group()) {
    zero_ = std::make_unique<dp::ZeroOptimizer>(params, opt, *dp_group());
    return;
  }
  adamw_ = std::make_unique<optim::AdamW>(params, opt);
  if (dp_group()) {
    buckets_.emplace(params, static_cast<int64_t>(spec_.parallel().bucket_mb() * 1048576.0),
                     *dp_group());
  }
}

absl::Status ParallelModel::MakeExecutor() {
  if (shape_.pp <= 1) return absl::OkStatus();
  const int chunks = VirtualStages(spec_);
  // The executor matches messages by tag and posts receives ahead: the backend must match
  // tags (Gloo, MPI; NCCL's in-order point-to-point does not) and have enough of them.
  const int64_t tags = 2LL * shape_.pp * chunks * spec_.parallel().micro_batches();
  if (tags > world_->max_tag()) {
    return absl::UnimplementedError(fmt::format(
        "mesh.pp = {}: the pipeline executor needs a backend that matches message tags, up to "
        "{} for this job; backend {} has {}",
        shape_.pp, tags, std::string(world_->name()),
        world_->max_tag() == 0 ? std::string("none")
                               : fmt::format("at most {}", world_->max_tag())));
  }
  MT_ASSIGN_OR_RETURN(pipeline::Schedule schedule,
                      pipeline::MakeSchedule(spec_.parallel().schedule(), shape_.pp,
                                             spec_.parallel().micro_batches(), chunks));
  executor_ =
      std::make_unique<pipeline::Executor>(*model_, std::move(schedule), coords_.pp, pp_group());
  return absl::OkStatus();
}

absl::Status ParallelModel::SumOver(comm::Backend* group, float* data, int64_t n,
                                    const char* what) {
  if (group == nullptr) return absl::OkStatus();
  comm::Options o;
  return Annotate(group->AllReduce(data, n, DType::kF32, o)->Wait(o.timeout), what);
}

void ParallelModel::BuildMicroBatches(const data::Samples& mine, const data::DatasetIndex& index) {
  const int micro = spec_.parallel().micro_batches();
  const int64_t size = static_cast<int64_t>(mine.ids.size()) / micro;
  const bool answers = spec_.data().loss_on() == "answers";
  micro_.resize(micro);
  for (int m = 0; m < micro; ++m) {
    BuildBatch(index, mine.tokens.data() + m * size * index.sample_len, size,
               spec_.model().seq_len(), micro_[m], answers);
  }
}

// Forward and backward of every micro-batch; returns this rank's share of the loss (the
// micro-batch mean on the head's stage, 0 on other stages).
absl::StatusOr<double> ParallelModel::ForwardBackward(const data::Samples& mine,
                                                      const data::DatasetIndex& index) {
  BuildMicroBatches(mine, index);
  const int micro = static_cast<int>(micro_.size());
  const float scale = 1.0f / static_cast<float>(micro);
  if (executor_) {
    std::vector<pipeline::MicroBatch> mbs;
    for (const Batch& b : micro_)
      mbs.push_back({b.tokens.data(), b.targets.data(), b.batch, b.seq});
    return executor_->Run(mbs, scale);
  }
  double loss = 0;
  for (int m = 0; m < micro; ++m) {
    const Batch& b = micro_[m];
    loss += model_->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq) * scale;
    // Only the last micro-batch's backward communicates (accumulation is local).
    const bool last = m + 1 == micro;
    if (last && buckets_) buckets_->Begin(loss);
    model_->Backward(scale, last && buckets_ ? buckets_->Hook() : nn::GradsReady{});
  }
  return loss;
}

// Makes every rank's gradients those of the global batch, and `loss` its mean.
absl::Status ParallelModel::SyncGradients(double& loss) {
  if (tied_) {
    for (nn::Parameter* p : model_->Parameters()) {
      if (p->name != "wte.weight") continue;
      MT_RETURN_IF_ERROR(SumOver(tied_.get(), p->grad.Data<float>(), p->grad.numel(),
                                 "tied embedding gradient all-reduce"));
    }
  }
  if (buckets_) {
    if (executor_) {  // the pipeline's backward has no hook: all buckets now
      buckets_->Begin(loss);
      buckets_->Hook()(model_->Parameters());
    }
    MT_ASSIGN_OR_RETURN(loss, buckets_->Finish());
  }
  float mean = static_cast<float>(loss);
  if (zero_) {
    MT_RETURN_IF_ERROR(zero_->ReduceScatter());
    MT_RETURN_IF_ERROR(SumOver(dp_group(), &mean, 1, "loss all-reduce"));
    mean /= static_cast<float>(shape_.dp);
  }
  // Only the head's stage has the loss; the others add 0.
  if (executor_) MT_RETURN_IF_ERROR(SumOver(pp_group(), &mean, 1, "loss all-reduce"));
  if (zero_ || executor_) loss = mean;
  return absl::OkStatus();
}

// The norm of the whole model's gradient: each rank's weighted sum of squares, summed over the
// axes where ranks hold different parameters (tp, pp; dp only when ZeRO shards them).
absl::StatusOr<double> ParallelModel::GlobalNorm() {
  const double local =
      zero_ ? zero_->ShardSquaredNorm(norm_weights_) : adamw_->SquaredNorm(norm_weights_);
  if (!world_ || world_->size() == 1) return std::sqrt(local);
  float sum = static_cast<float>(local);
  MT_RETURN_IF_ERROR(SumOver(tp_group(), &sum, 1, "gradient norm all-reduce (tp)"));
  MT_RETURN_IF_ERROR(SumOver(pp_group(), &sum, 1, "gradient norm all-reduce (pp)"));
  if (zero_) MT_RETURN_IF_ERROR(SumOver(dp_group(), &sum, 1, "gradient norm all-reduce (dp)"));
  return std::sqrt(static_cast<double>(sum));
}

absl::StatusOr<StepResult> ParallelModel::Step(const data::Samples& mine,
                                               const data::DatasetIndex& index, double lr) {
  MT_CHECK(!failed_);
  auto r = TrainStep(mine, index, lr);
  // A failed collective may leave transfers in flight (see Deleter); a failed device step
  // (one process) leaves none, so the model, and the GPU memory it holds, can go.
  failed_ |= !r.ok() && spec_.device() != "cuda";
  return r;
}

// One process on a GPU (CheckTrainable refuses device: cuda with more): the DeviceModel is
// made at the first step, so it starts from whatever the host model and optimizer hold then
// (a restored checkpoint, a fine-tuning base).
absl::StatusOr<StepResult> ParallelModel::DeviceStep(const data::Samples& mine,
                                                     const data::DatasetIndex& index, double lr) {
  if (world_ != nullptr && world_->size() > 1) {  // no gradient all-reduce on this path yet
    return absl::FailedPreconditionError(
        "device: cuda: the GPU step runs one process; this mesh has several");
  }
  BuildMicroBatches(mine, index);
  if (!device_) {
    MT_ASSIGN_OR_RETURN(device_,
                        DeviceModel::Create(*model_, *adamw_, spec_.train().precision() == "bf16",
                                            micro_.front().batch));
  }
  return device_->Step(micro_, lr);
}

absl::Status ParallelModel::SyncHost(bool optimizer) {
  return device_ ? device_->SyncHost(optimizer) : absl::OkStatus();
}

absl::StatusOr<StepResult> ParallelModel::TrainStep(const data::Samples& mine,
                                                    const data::DatasetIndex& index, double lr) {
  if (spec_.device() == "cuda") return DeviceStep(mine, index, lr);
  StepResult r;
  model_->ZeroGrad();
  MT_ASSIGN_OR_RETURN(r.loss, ForwardBackward(mine, index));
  MT_RETURN_IF_ERROR(SyncGradients(r.loss));
  if (tp_ops_) MT_RETURN_IF_ERROR(tp_ops_->status());
  MT_ASSIGN_OR_RETURN(const double norm, GlobalNorm());
  if (!std::isfinite(r.loss)) {
    r.stats.finite = false;
    r.stats.grad_norm = norm;
    return r;
  }
  if (zero_) {
    MT_ASSIGN_OR_RETURN(r.stats, zero_->Step(lr, norm));
  } else {
    r.stats = adamw_->Step(lr, norm);
  }
  return r;
}

optim::AdamW& ParallelModel::CheckpointState() {
  if (!zero_) return *adamw_;
  if (!gathered_) {
    gathered_ = std::make_unique<optim::AdamW>(model_->Parameters(), optim::AdamWConfig{});
  }
  return *gathered_;
}

absl::Status ParallelModel::GatherState() {
  MT_RETURN_IF_ERROR(SyncHost(/*optimizer=*/true));  // device: cuda: the state is on the GPU
  if (!zero_) return absl::OkStatus();
  optim::AdamW& state = CheckpointState();
  state.set_step(zero_->step());
  return Check(zero_->GatherMoments(state.m(), state.v()));
}

void ParallelModel::ScatterState() {
  if (!zero_) return;
  optim::AdamW& state = CheckpointState();
  zero_->LoadMoments(state.m(), state.v());
  zero_->set_step(state.step());
  ReleaseState();
}

EvalForward ParallelModel::EvalFn() {
  return [this](const Batch& b) -> absl::StatusOr<std::optional<EvalOutput>> {
    MT_CHECK(!failed_);
    std::optional<EvalOutput> out;
    model_->set_predict(true);  // the arg-max over the vocabulary: evaluation only
    absl::Status s;
    if (executor_) {
      const pipeline::MicroBatch mb{b.tokens.data(), b.targets.data(), b.batch, b.seq};
      s = executor_->Forward({mb}, [&](int, float loss) {
        out = EvalOutput{loss, model_->predictions()};
      });
    } else {
      out = EvalOutput{model_->Forward(b.tokens.data(), b.targets.data(), b.batch, b.seq),
                       model_->predictions()};
    }
    model_->set_predict(false);
    if (s.ok() && tp_ops_) s = tp_ops_->status();
    MT_RETURN_IF_ERROR(Check(s));
    return out;
  };
}

absl::StatusOr<std::unique_ptr<nn::Model>> ParallelModel::GatherFull() {
  const int chunks = VirtualStages(spec_);
  if (!lead()) {
    // Ranks of dp 0 send what they hold and no other rank does: the tensor-parallel slices
    // of partitioned parameters, replicated ones from tp 0, the tied copy never.
    if (coords_.dp != 0) return nullptr;
    std::vector<std::shared_ptr<comm::Work>> sends;
    for (nn::Parameter* p : model_->Parameters()) {
      if (model_->IsTiedCopy(p)) continue;
      if (p->partition.replicated() && coords_.tp != 0) continue;
      sends.push_back(world_->Send(p->value.Data<float>(), p->value.numel(), DType::kF32, 0, 0));
    }
    for (auto& w : sends) {
      if (absl::Status s = w->Wait(comm::Options{}.timeout); !s.ok()) {
        // The other sends stay pending with the model (see Deleter): not waited for here.
        static auto* abandoned = new std::vector<std::shared_ptr<comm::Work>>();
        abandoned->insert(abandoned->end(), sends.begin(), sends.end());
        return Check(Annotate(s, "gathering the model on rank 0"));
      }
    }
    return nullptr;
  }
  MT_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> full, model_->NewWhole(0));
  std::map<std::string, nn::Parameter*> mine;
  for (nn::Parameter* p : model_->Parameters()) mine[p->name] = p;
  // Received in canonical order per sender, which is each sender's own order.
  for (nn::Parameter* p : full->Parameters()) {
    const int stage = StageOfParameter(*full, p->name, shape_.pp, chunks);
    const int tps = p->partition.replicated() ? 1 : shape_.tp;
    for (int t = 0; t < tps; ++t) {
      const int from = mesh::RankOf(shape_, {stage, 0, t});
      Tensor local = Tensor::Zeros(nn::LocalShape(p->value.shape(), p->partition, shape_.tp));
      if (from == 0) {
        std::memcpy(local.Data<float>(), mine.at(p->name)->value.Data<float>(),
                    local.numel() * sizeof(float));
      } else {
        MT_RETURN_IF_ERROR(
            Check(Annotate(world_->Recv(local.Data<float>(), local.numel(), DType::kF32, from, 0)
                               ->Wait(comm::Options{}.timeout),
                           fmt::format("gathering {} from rank {}", p->name, from))));
      }
      nn::PutSlice(local, p->value, p->partition, tps == 1 ? 1 : shape_.tp, t);
    }
  }
  return full;
}

}  // namespace mt::train
