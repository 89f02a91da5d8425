// Resume, saver and fine-tune base of a run (see run_checkpoints.h).
#include "train/run_checkpoints.h"

#include "checkpoint/store/committer.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/job/job_id.h"
#include "runtime/storage/azure_store.h"
#include "train/model_io.h"
#include "train/start_check.h"

namespace mt::train {
namespace {

// TrainOptions::on_commit with the store's URI bound (null without a hook).
ckpt::Committer::OnCommit CommitHook(const TrainOptions& o, const ckpt::CheckpointStore& store) {
  if (!o.on_commit) return {};
  return [hook = o.on_commit, uri = store.uri()](const ckpt::Manifest& m) { hook(uri, m); };
}

}  // namespace

absl::StatusOr<Checkpoints> SetUpCheckpoints(const TrainOptions& o, ParallelModel& pm) {
  Checkpoints c;
  if (!o.spec.has_checkpoint()) return c;
  nn::Model& model = pm.model();
  optim::AdamW& opt = pm.CheckpointState();
  auto store = ckpt::CheckpointStore::Open(o.spec.checkpoint().store());
  if (!store.ok()) return Annotate(store.status(), "checkpoint.store");
  if (pm.lead()) {  // before any rank saves (the first save follows a collective)
    MT_RETURN_IF_ERROR(
        Annotate(storage::EnsureContainer(o.spec.checkpoint().store()), "checkpoint.store"));
  }
  MT_ASSIGN_OR_RETURN(int64_t version, ResumeVersion(o.spec, o.resume));
  if (version >= 0) {
    auto restored = RestoreTogether(o.comm, **store, version, model, opt);
    if (restored.ok()) {
      c.restored = *restored;
      pm.ScatterState();
      MT_LOG(kInfo, kCkpt, "resumed from checkpoint version {} of {}: step {}, sample cursor {}",
             c.restored.version, (*store)->uri(), c.restored.step, c.restored.cursor);
    } else if (version == 0 && restored.status().code() == absl::StatusCode::kNotFound) {
      MT_LOG(kInfo, kCkpt, "no checkpoint in {} yet: starting fresh", (*store)->uri());
    } else {
      return Annotate(restored.status(), "resume");
    }
  }
  pm.ReleaseState();  // ZeRO-1: the full moments only live during a save or restore
  CheckpointerOptions co;
  co.store = *store;
  co.rank = o.comm ? o.comm->rank() : 0;
  co.world = o.comm ? o.comm->size() : 1;
  co.dp = pm.shape().dp;
  co.dp_rank = pm.coords().dp;
  co.mesh = {o.spec.mesh().dp(), o.spec.mesh().tp(), o.spec.mesh().pp()};
  co.job_hash = job::JobId(o.spec);
  if (!google::protobuf::util::MessageToJsonString(o.spec, &co.job_json).ok()) {
    return absl::InternalError("cannot serialise the job spec");
  }
  co.seed = static_cast<uint64_t>(o.spec.train().seed());
  co.async = o.spec.checkpoint().async();
  co.parent = c.restored.version;
  co.report = o.report_checkpoint;
  if (!co.report) {
    if (co.world > 1) return absl::InternalError("checkpoints of a multi-rank run need a reporter");
    // One process: it commits its own versions.
    ckpt::Committer::Protected protect;
    if (o.protect) protect = o.protect((*store)->uri());
    auto committer = std::make_shared<ckpt::Committer>(*store, 1, o.spec.checkpoint().keep_last(),
                                                       std::move(protect), CommitHook(o, **store));
    co.report = [committer](const ckpt::Manifest& fields) {
      return committer->Report(fields, fields.files.front()).status();
    };
  }
  MT_ASSIGN_OR_RETURN(c.saver, Checkpointer::Create(std::move(co)));
  return c;
}

// Fine-tuning (finetune.base): the weights of the base the launcher resolved, from a
// checkpoint store (any saved mesh) or a model.safetensors; the optimizer, the step and the
// data position start fresh.
absl::Status InitFromBase(const TrainOptions& o, ParallelModel& pm) {
  const std::string& base = o.spec.finetune().base();
  if (!o.resolve_base) {
    return absl::FailedPreconditionError(
        fmt::format("finetune.base {}: this launcher cannot resolve a base model", base));
  }
  MT_ASSIGN_OR_RETURN(BaseWeights v, o.resolve_base(base));
  const std::string& uri = v.uri;
  if (uri.size() > 12 && uri.compare(uri.size() - 12, 12, ".safetensors") == 0) {
    const std::string path = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
    MT_RETURN_IF_ERROR(Annotate(LoadWeights(path, pm.model()), "finetune.base"));
  } else {
    auto store = ckpt::CheckpointStore::Open(uri);
    if (!store.ok()) return Annotate(store.status(), "finetune.base");
    optim::AdamW discarded(pm.model().Parameters(), optim::AdamWConfig{});
    MT_RETURN_IF_ERROR(Annotate(
        RestoreTogether(o.comm, **store, v.checkpoint_version, pm.model(), discarded).status(),
        "finetune.base"));
  }
  MT_LOG(kInfo, kTrain, "fine-tuning from {} ({} version {})", v.label, uri, v.checkpoint_version);
  return absl::OkStatus();
}

}  // namespace mt::train
