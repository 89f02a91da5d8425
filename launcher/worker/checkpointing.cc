// Checkpoint save and restore of the training state (see checkpointing.h).
#include "launcher/worker/checkpointing.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <numeric>

#include "checkpoint/format/shard.h"
#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::worker {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::vector<int64_t> ShapeOf(const Tensor& t) { return {t.shape().begin(), t.shape().end()}; }

// The whole tensor as a slice viewing `values` (the tensor itself, or its snapshot).
ckpt::TensorSlice Whole(const std::string& name, const Tensor& t, const float* values) {
  const std::vector<int64_t> shape = ShapeOf(t);
  ckpt::TensorSlice s{name, shape, std::vector<int64_t>(shape.size(), 0), shape, {}};
  s.view = values;
  return s;
}

// Parameter i's state with its checkpoint names: the value and its two AdamW moments.
std::array<std::pair<std::string, Tensor*>, 3> StateOf(nn::Parameter& p, optim::AdamW& opt,
                                                       size_t i) {
  return {
      {{p.name, &p.value}, {"optim.m." + p.name, &opt.m()[i]}, {"optim.v." + p.name, &opt.v()[i]}}};
}

// The whole state's tensors by checkpoint name.
std::map<std::string, Tensor*> StateTensors(nn::Gpt& model, optim::AdamW& opt) {
  std::map<std::string, Tensor*> out;
  const auto params = model.Parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    for (auto& [name, t] : StateOf(*params[i], opt, i)) out[name] = t;
  }
  return out;
}

std::string ShapeText(const std::vector<int64_t>& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

// Checks that a saved slice is the whole tensor `target` is.
absl::Status Fits(const ckpt::TensorSlice& saved, const Tensor& target) {
  const std::vector<int64_t> want = ShapeOf(target);
  const bool whole =
      std::all_of(saved.offset.begin(), saved.offset.end(), [](int64_t o) { return o == 0; }) &&
      saved.shape == saved.global_shape;
  if (!whole || saved.global_shape != want) {
    return absl::InvalidArgumentError(
        fmt::format("tensor {}: saved {} (slice {} at {}) does not fit the model's {}", saved.name,
                    ShapeText(saved.global_shape), ShapeText(saved.shape), ShapeText(saved.offset),
                    ShapeText(want)));
  }
  return absl::OkStatus();
}

absl::StatusOr<RestoredState> LoadVersion(ckpt::CheckpointStore& store, int64_t version,
                                          nn::Gpt& model, optim::AdamW& opt) {
  MT_ASSIGN_OR_RETURN(ckpt::Manifest m, store.ReadManifest(version));
  std::map<std::string, Tensor*> targets = StateTensors(model, opt);
  std::set<std::string> missing;
  for (const auto& [name, t] : targets) missing.insert(name);
  for (const ckpt::FileEntry& f : m.files) {
    if (f.tensors.empty()) continue;
    const std::string where = store.Where(m, f);
    MT_ASSIGN_OR_RETURN(auto reader, store.OpenShardForRestore(m, f));
    for (const ckpt::TensorSlice& t : reader->tensors()) {
      auto it = targets.find(t.name);
      if (it == targets.end()) {
        return absl::InvalidArgumentError(
            fmt::format("{}: tensor {} is not part of this model", where, t.name));
      }
      MT_RETURN_IF_ERROR(Annotate(Fits(t, *it->second), where));
      // Straight from the file into the tensor, its checksum checked.
      MT_RETURN_IF_ERROR(reader->Read(t.name, it->second->Data<float>()));
      missing.erase(t.name);
    }
    MT_RETURN_IF_ERROR(store.CheckFile(m, f));  // the whole file too (now in the page cache)
  }
  if (!missing.empty()) {
    return absl::DataLossError(fmt::format("{}: checkpoint version {} lacks tensor {} ({} in all)",
                                           store.uri(), version, *missing.begin(), missing.size()));
  }
  opt.set_step(m.optimizer_step);
  return RestoredState{version, m.step, m.optimizer_step, m.cursor};
}

}  // namespace

std::vector<int> AssignToRanks(const std::vector<int64_t>& bytes, int world) {
  std::vector<size_t> order(bytes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bytes[a] > bytes[b]; });
  std::vector<int64_t> load(world, 0);
  std::vector<int> owner(bytes.size(), 0);
  for (size_t i : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = r;
    load[r] += bytes[i];
  }
  return owner;
}

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Create(CheckpointerOptions options) {
  std::unique_ptr<Checkpointer> c(new Checkpointer(std::move(options)));
  auto highest = c->o_.store->Highest();
  if (!highest.ok()) return Annotate(highest.status(), "checkpoint.store");
  c->next_version_ = *highest + 1;
  return c;
}

Checkpointer::~Checkpointer() {
  if (writer_.joinable()) writer_.join();
}

absl::Status Checkpointer::Wait() {
  if (!writer_.joinable()) return absl::OkStatus();
  const auto t0 = std::chrono::steady_clock::now();
  writer_.join();
  blocked_s_ += Since(t0);
  return std::exchange(writer_status_, absl::OkStatus());
}

absl::Status Checkpointer::Write(int64_t version, ckpt::Shard shard, ckpt::Manifest fields) {
  MT_ASSIGN_OR_RETURN(ckpt::FileEntry file, o_.store->PutShard(version, o_.rank, shard));
  fields.files = {file};
  return Annotate(o_.report(fields), fmt::format("committing checkpoint version {}", version));
}

const float* Checkpointer::Snapshot(const Tensor& t) {
  if (!o_.async) return t.Data<float>();  // a sync save ends before training changes it
  // Async: copied into buffers kept from save to save (their pages stay mapped, so the copy
  // runs at memory speed), then written from there while training goes on.
  if (snapshot_used_ == snapshot_.size()) snapshot_.emplace_back();
  std::vector<float>& buf = snapshot_[snapshot_used_++];
  buf.resize(t.numel());
  copies_.push_back({t.Data<float>(), buf.data(), t.numel()});
  return buf.data();
}

void Checkpointer::CopySnapshot() {
  // All cores copy: this is the only part of an async save training waits for.
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < copies_.size(); ++i) {
    std::copy_n(copies_[i].from, copies_[i].n, copies_[i].to);
  }
  copies_.clear();
}

absl::Status Checkpointer::Save(nn::Gpt& model, optim::AdamW& opt, int64_t step, int64_t cursor,
                                std::map<std::string, double> metrics) {
  MT_RETURN_IF_ERROR(Wait());  // at most one save in flight
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t version = next_version_++;
  const auto params = model.Parameters();
  std::vector<int64_t> bytes;
  for (const nn::Parameter* p : params) bytes.push_back(3 * p->value.numel() * 4);
  const std::vector<int> owner = AssignToRanks(bytes, o_.world);
  ckpt::Shard shard;
  shard.header = {step, cursor, o_.rank, o_.world, o_.mesh, o_.seed, o_.job_hash};
  for (size_t i = 0; i < params.size(); ++i) {
    if (owner[i] != o_.rank) continue;
    for (auto& [name, t] : StateOf(*params[i], opt, i)) {
      shard.tensors.push_back(Whole(name, *t, Snapshot(*t)));
    }
  }
  snapshot_used_ = 0;
  CopySnapshot();
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
  absl::Status status;
  if (o_.async) {
    writer_ = std::thread([this, version, shard = std::move(shard), fields]() mutable {
      writer_status_ = Write(version, std::move(shard), std::move(fields));
    });
  } else {
    status = Write(version, std::move(shard), std::move(fields));
  }
  blocked_s_ += Since(t0);
  return status;
}

absl::StatusOr<RestoredState> Restore(ckpt::CheckpointStore& store, int64_t version, nn::Gpt& model,
                                      optim::AdamW& opt) {
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

}  // namespace mt::worker
