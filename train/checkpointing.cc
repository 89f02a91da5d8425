// Checkpoint save and restore of the training state (see checkpointing.h).
#include "train/checkpointing.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <numeric>

#include "checkpoint/format/shard.h"
#include "checkpoint/reshard/held.h"
#include "checkpoint/reshard/reshard.h"
#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::train {
namespace {

// Parameter i's state with its checkpoint names: the value and its two AdamW moments.
std::array<std::pair<std::string, Tensor*>, 3> StateOf(nn::Parameter& p, optim::AdamW& opt,
                                                       size_t i) {
  return {
      {{p.name, &p.value}, {"optim.m." + p.name, &opt.m()[i]}, {"optim.v." + p.name, &opt.v()[i]}}};
}

// One tensor this rank holds: where it lives, and which of its elements saved slices covered.
struct Held {
  Tensor* tensor = nullptr;
  ckpt::Coverage coverage;
};

ckpt::Box BoxOf(const ckpt::TensorSlice& t) { return {t.offset, t.shape}; }

// Every tensor of the rank's state, by checkpoint name.
std::map<std::string, Held> HeldState(nn::Model& model, optim::AdamW& opt) {
  std::map<std::string, Held> out;
  const auto params = model.Parameters();
  const std::vector<ckpt::HeldParameter> held = ckpt::HeldParameters(model);
  for (size_t i = 0; i < params.size(); ++i) {
    for (auto& [name, t] : StateOf(*params[i], opt, i))
      out.emplace(name, Held{t, ckpt::Coverage(held[i].global, held[i].pieces)});
  }
  return out;
}

// The parameter a checkpoint tensor name belongs to ("optim.m.h.0..." -> "h.0...").
std::string ParameterOf(const std::string& name) {
  for (const char* prefix : {"optim.m.", "optim.v."}) {
    if (name.rfind(prefix, 0) == 0) return name.substr(std::string(prefix).size());
  }
  return name;
}

// Reads the saved slices this rank needs from one file into `held`.
absl::Status LoadFile(ckpt::CheckpointStore& store, const ckpt::Manifest& m,
                      const ckpt::FileEntry& f, const nn::Model& model,
                      std::map<std::string, Held>& held) {
  const std::string where = store.Where(m, f);
  MT_ASSIGN_OR_RETURN(auto reader, store.OpenShardForRestore(m, f));
  std::vector<float> buf;
  for (const ckpt::TensorSlice& t : reader->tensors()) {
    auto it = held.find(t.name);
    if (it == held.end()) {
      if (model.IsParameterName(ParameterOf(t.name))) continue;  // another rank's
      return absl::InvalidArgumentError(
          fmt::format("{}: tensor {} is not part of this model", where, t.name));
    }
    Held& h = it->second;
    if (t.global_shape != h.coverage.global()) {
      return absl::InvalidArgumentError(
          fmt::format("{}: tensor {}: saved {} (slice {} at {}) does not fit the model's {}", where,
                      t.name, ckpt::ShapeText(t.global_shape), ckpt::ShapeText(t.shape),
                      ckpt::ShapeText(t.offset), ckpt::ShapeText(h.coverage.global())));
    }
    if (!h.coverage.Needs(BoxOf(t))) continue;
    // Saved slices must not overlap one another (then counting covered elements is exact).
    auto copy = h.coverage.Take(BoxOf(t));
    if (!copy.ok()) return Annotate(copy.status(), fmt::format("{}: tensor {}", where, t.name));
    // Checksums are checked on every read. A slice that is exactly one of the rank's
    // rectangles (resuming on the same tensor-parallel degree) goes straight into the tensor.
    float* dst = h.tensor->Data<float>();
    if (copy->exact >= 0) {
      MT_RETURN_IF_ERROR(reader->Read(t.dataset, dst + copy->exact));
      continue;
    }
    buf.resize(t.numel());
    MT_RETURN_IF_ERROR(reader->Read(t.dataset, buf.data()));
    ckpt::ApplyRuns(copy->runs, buf.data(), dst);
  }
  return store.CheckFile(m, f);  // the whole file too (now in the page cache)
}

absl::StatusOr<RestoredState> LoadVersion(ckpt::CheckpointStore& store, int64_t version,
                                          nn::Model& model, optim::AdamW& opt) {
  MT_ASSIGN_OR_RETURN(ckpt::Manifest m, store.ReadManifest(version));
  std::map<std::string, Held> held = HeldState(model, opt);
  for (const ckpt::FileEntry& f : m.files) {
    const bool needed = std::any_of(f.tensors.begin(), f.tensors.end(), [&](const std::string& t) {
      return held.count(t) > 0 || !model.IsParameterName(ParameterOf(t));
    });
    if (needed) MT_RETURN_IF_ERROR(LoadFile(store, m, f, model, held));
  }
  for (const auto& [name, h] : held) {
    const int64_t have = h.coverage.covered(), want = h.tensor->numel();
    if (have < want) {
      return absl::DataLossError(fmt::format(
          "{}: checkpoint version {} lacks tensor {} ({} of the {} elements this rank holds)",
          store.uri(), version, name, have, want));
    }
    MT_CHECK(have == want);  // no overlaps (checked above), so never more
  }
  opt.set_step(m.optimizer_step);
  return RestoredState{version, m.step, m.optimizer_step, m.cursor};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Create(CheckpointerOptions options) {
  std::unique_ptr<Checkpointer> c(new Checkpointer(std::move(options)));
  auto highest = c->o_.store->Highest();
  if (!highest.ok()) return Annotate(highest.status(), "checkpoint.store");
  c->next_version_ = *highest + 1;
  return c;
}

absl::Status Checkpointer::Wait() { return writer_.Wait(); }

absl::Status Checkpointer::Write(int64_t version, ckpt::Shard shard, ckpt::Manifest fields) {
  MT_ASSIGN_OR_RETURN(ckpt::FileEntry file, o_.store->PutShard(version, o_.rank, shard));
  fields.files = {file};
  return Annotate(o_.report(fields), fmt::format("committing checkpoint version {}", version));
}

absl::Status Checkpointer::Save(nn::Model& model, optim::AdamW& opt, int64_t step, int64_t cursor,
                                std::map<std::string, double> metrics) {
  MT_RETURN_IF_ERROR(writer_.Begin());  // at most one save in flight
  const int64_t version = next_version_++;
  // What this rank's slice holds that no other slice does, shared out over the dp replicas.
  const auto params = model.Parameters();
  const std::vector<ckpt::HeldParameter> held = ckpt::HeldParameters(model);
  ckpt::Shard shard;
  shard.header = {step, cursor, o_.rank, o_.world, o_.mesh, o_.seed, o_.job_hash};
  for (size_t i : ckpt::ParametersToSave(held, o_.dp, o_.dp_rank)) {
    const ckpt::HeldParameter& p = held[i];
    for (auto& [name, t] : StateOf(*params[i], opt, i)) {
      const float* values = writer_.Stage(t->Data<float>(), t->numel());
      int64_t base = 0;
      for (size_t k = 0; k < p.pieces.size(); ++k) {
        ckpt::TensorSlice s;
        s.name = name;
        s.global_shape = p.global;
        s.offset = p.pieces[k].offset;
        s.shape = p.pieces[k].shape;
        if (k > 0) s.dataset = fmt::format("{}#{}", name, k);
        s.view = values + base;
        base += ckpt::Volume(p.pieces[k].shape);
        shard.tensors.push_back(std::move(s));
      }
    }
  }
  ckpt::Manifest fields;
  fields.version = version;
  fields.step = step;
  fields.parent = saves_ == 0 ? o_.parent : version - 1;
  fields.optimizer_step = opt.step();
  fields.cursor = cursor;
  fields.mesh = o_.mesh;
  fields.world_size = o_.world;
  fields.job_hash = o_.job_hash;
  fields.job = o_.job_json;
  fields.metrics = std::move(metrics);
  ++saves_;
  return writer_.Launch([this, version, shard = std::move(shard), fields]() mutable {
    return Write(version, std::move(shard), std::move(fields));
  });
}

absl::StatusOr<RestoredState> Restore(ckpt::CheckpointStore& store, int64_t version,
                                      nn::Model& model, optim::AdamW& opt) {
  if (version > 0) return LoadVersion(store, version, model, opt);
  MT_ASSIGN_OR_RETURN(std::vector<int64_t> committed, store.Committed());
  if (committed.empty()) {
    return absl::NotFoundError(fmt::format("{}: no committed checkpoint version", store.uri()));
  }
  absl::Status last;
  for (auto it = committed.rbegin(); it != committed.rend(); ++it) {
    auto state = LoadVersion(store, *it, model, opt);
    if (state.ok()) return state;
    // Only damage is skipped; a checkpoint of another model is the user's error.
    if (state.status().code() != absl::StatusCode::kDataLoss) return state.status();
    last = state.status();
    MT_LOG(kWarn, kCkpt, "checkpoint version {} is unusable, trying the previous one: {}", *it,
           std::string(last.message()));
  }
  return absl::DataLossError(fmt::format("{}: no usable checkpoint version ({} tried; last: {})",
                                         store.uri(), committed.size(),
                                         std::string(last.message())));
}

absl::StatusOr<RestoredState> RestoreTogether(comm::Backend* world, ckpt::CheckpointStore& store,
                                              int64_t version, nn::Model& model,
                                              optim::AdamW& opt) {
  auto mine = Restore(store, version, model, opt);
  if (world == nullptr || world->size() == 1) return mine;
  for (int round = 0; round < 2; ++round) {
    const bool fresh = version == 0 && mine.status().code() == absl::StatusCode::kNotFound;
    const bool failed = !mine.ok() && !fresh;
    const float loaded = mine.ok() ? static_cast<float>(mine->version) : 0.0f;
    // One min-reduction: the oldest version loaded, any failure, the newest version (negated).
    float v[3] = {loaded, failed ? -1.0f : 0.0f, -loaded};
    comm::Options o;
    o.op = comm::ReduceOp::kMin;
    MT_RETURN_IF_ERROR(Annotate(world->AllReduce(v, 3, DType::kF32, o)->Wait(o.timeout),
                                "resume: agreeing on the checkpoint version"));
    if (v[1] < 0) {
      if (failed) return mine.status();
      return absl::AbortedError(
          "resume: another rank could not restore the checkpoint (its log says why)");
    }
    const auto oldest = static_cast<int64_t>(v[0]), newest = static_cast<int64_t>(-v[2]);
    if (oldest == newest) return mine;
    if (oldest == 0) {
      return absl::FailedPreconditionError(fmt::format(
          "resume: {}: some ranks found no checkpoint, others version {}", store.uri(), newest));
    }
    if (mine->version != oldest) {
      MT_LOG(kWarn, kCkpt,
             "another rank could not use checkpoint version {}: reloading version {} so every "
             "rank resumes the same one",
             mine->version, oldest);
      mine = Restore(store, oldest, model, opt);
    }
  }
  return mine;
}

}  // namespace mt::train
