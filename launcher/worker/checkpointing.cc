// Checkpoint save and restore of the training state (see checkpointing.h).
#include "launcher/worker/checkpointing.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <map>
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

// Parameter i's state with its checkpoint names: the value and its two AdamW moments.
std::array<std::pair<std::string, Tensor*>, 3> StateOf(nn::Parameter& p, optim::AdamW& opt,
                                                       size_t i) {
  return {
      {{p.name, &p.value}, {"optim.m." + p.name, &opt.m()[i]}, {"optim.v." + p.name, &opt.v()[i]}}};
}

std::string ShapeText(const std::vector<int64_t>& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

// One tensor this rank holds, as rectangles of the global tensor stacked in local memory.
struct Held {
  std::string name;
  Tensor* tensor = nullptr;
  std::vector<int64_t> global;
  std::vector<nn::SlicePiece> pieces;
  int64_t covered = 0;  // elements restored so far
  std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> used;  // saved boxes read
};

// The rank's rectangles of parameter `p` (whole when it is replicated or tp is 1).
std::vector<nn::SlicePiece> PiecesOf(const nn::Parameter& p, const nn::Placement& at) {
  return nn::SlicePieces(nn::GlobalShape(p.value.shape(), p.partition, at.tp), p.partition, at.tp,
                         at.tp_rank);
}

int64_t Volume(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

// Rows and columns of a 1-D or 2-D shape (1-D: one column) or offset (1-D: column 0).
std::pair<int64_t, int64_t> Dims(const std::vector<int64_t>& v, int64_t missing_column) {
  return {v[0], v.size() > 1 ? v[1] : missing_column};
}

// Whether two boxes (offset, shape) of one tensor share an element.
bool BoxesMeet(const std::vector<int64_t>& a_off, const std::vector<int64_t>& a_shape,
               const std::vector<int64_t>& b_off, const std::vector<int64_t>& b_shape) {
  for (size_t d = 0; d < a_off.size(); ++d) {
    if (a_off[d] >= b_off[d] + b_shape[d] || b_off[d] >= a_off[d] + a_shape[d]) return false;
  }
  return true;
}

// Copies the overlap of a saved slice (values in `src`) into the held tensor's rectangles;
// returns the elements copied.
int64_t CopyOverlap(const ckpt::TensorSlice& saved, const float* src, Held& h) {
  const auto [so_r, so_c] = Dims(saved.offset, 0);
  const auto [ss_r, ss_c] = Dims(saved.shape, 1);
  float* dst = h.tensor->Data<float>();
  int64_t base = 0, copied = 0;
  for (const nn::SlicePiece& p : h.pieces) {
    const auto [po_r, po_c] = Dims(p.offset, 0);
    const auto [ps_r, ps_c] = Dims(p.shape, 1);
    const int64_t r0 = std::max(so_r, po_r), r1 = std::min(so_r + ss_r, po_r + ps_r);
    const int64_t c0 = std::max(so_c, po_c), c1 = std::min(so_c + ss_c, po_c + ps_c);
    for (int64_t r = r0; r < r1 && c0 < c1; ++r) {
      std::copy_n(src + (r - so_r) * ss_c + (c0 - so_c), c1 - c0,
                  dst + base + (r - po_r) * ps_c + (c0 - po_c));
      copied += c1 - c0;
    }
    base += Volume(p.shape);
  }
  return copied;
}

// Whether a saved slice overlaps any of the held rectangles.
bool Overlaps(const ckpt::TensorSlice& saved, const Held& h) {
  for (const nn::SlicePiece& p : h.pieces) {
    if (BoxesMeet(saved.offset, saved.shape, p.offset, p.shape)) return true;
  }
  return false;
}

// Where a saved slice goes when it is exactly one of the held rectangles, else null.
float* ExactPiece(const ckpt::TensorSlice& saved, Held& h) {
  int64_t base = 0;
  for (const nn::SlicePiece& p : h.pieces) {
    if (p.offset == saved.offset && p.shape == saved.shape) return h.tensor->Data<float>() + base;
    base += Volume(p.shape);
  }
  return nullptr;
}

// Every tensor of the rank's state, by checkpoint name.
std::map<std::string, Held> HeldState(nn::Gpt& model, optim::AdamW& opt) {
  std::map<std::string, Held> out;
  const auto params = model.Parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const auto pieces = PiecesOf(*params[i], model.placement());
    const auto global =
        nn::GlobalShape(params[i]->value.shape(), params[i]->partition, model.placement().tp);
    for (auto& [name, t] : StateOf(*params[i], opt, i))
      out[name] = Held{name, t, global, pieces, 0, {}};
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
                      const ckpt::FileEntry& f, const nn::GptConfig& config,
                      std::map<std::string, Held>& held) {
  const std::string where = store.Where(m, f);
  MT_ASSIGN_OR_RETURN(auto reader, store.OpenShardForRestore(m, f));
  std::vector<float> buf;
  for (const ckpt::TensorSlice& t : reader->tensors()) {
    auto it = held.find(t.name);
    if (it == held.end()) {
      if (nn::Gpt::IsParameterName(config, ParameterOf(t.name))) continue;  // another rank's
      return absl::InvalidArgumentError(
          fmt::format("{}: tensor {} is not part of this model", where, t.name));
    }
    Held& h = it->second;
    if (t.global_shape != h.global) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: tensor {}: saved {} (slice {} at {}) does not fit the model's {}", where, t.name,
          ShapeText(t.global_shape), ShapeText(t.shape), ShapeText(t.offset), ShapeText(h.global)));
    }
    if (!Overlaps(t, h)) continue;
    // Saved slices must not overlap one another (then counting covered elements is exact).
    for (const auto& [offset, shape] : h.used) {
      if (BoxesMeet(offset, shape, t.offset, t.shape)) {
        return absl::InvalidArgumentError(
            fmt::format("{}: tensor {}: saved slice {} at {} overlaps another saved slice", where,
                        t.name, ShapeText(t.shape), ShapeText(t.offset)));
      }
    }
    h.used.emplace_back(t.offset, t.shape);
    // Checksums are checked on every read. A slice that is exactly one of the rank's
    // rectangles (resuming on the same tensor-parallel degree) goes straight into the tensor.
    if (float* exact = ExactPiece(t, h)) {
      MT_RETURN_IF_ERROR(reader->Read(t.dataset, exact));
      h.covered += t.numel();
      continue;
    }
    buf.resize(t.numel());
    MT_RETURN_IF_ERROR(reader->Read(t.dataset, buf.data()));
    h.covered += CopyOverlap(t, buf.data(), h);
  }
  return store.CheckFile(m, f);  // the whole file too (now in the page cache)
}

absl::StatusOr<RestoredState> LoadVersion(ckpt::CheckpointStore& store, int64_t version,
                                          nn::Gpt& model, optim::AdamW& opt) {
  MT_ASSIGN_OR_RETURN(ckpt::Manifest m, store.ReadManifest(version));
  std::map<std::string, Held> held = HeldState(model, opt);
  for (const ckpt::FileEntry& f : m.files) {
    const bool needed = std::any_of(f.tensors.begin(), f.tensors.end(), [&](const std::string& t) {
      return held.count(t) > 0 || !nn::Gpt::IsParameterName(model.config(), ParameterOf(t));
    });
    if (needed) MT_RETURN_IF_ERROR(LoadFile(store, m, f, model.config(), held));
  }
  for (const auto& [name, h] : held) {
    const int64_t want = h.tensor->numel();
    if (h.covered < want) {
      return absl::DataLossError(fmt::format(
          "{}: checkpoint version {} lacks tensor {} ({} of the {} elements this rank holds)",
          store.uri(), version, name, h.covered, want));
    }
    MT_CHECK(h.covered == want);  // no overlaps (checked above), so never more
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
  // What this rank's slice holds that no other slice does: everything but the tied copy, and
  // replicated tensors only on tp rank 0; the dp replicas share it out.
  const auto params = model.Parameters();
  const nn::Placement& at = model.placement();
  std::vector<size_t> mine;
  std::vector<int64_t> bytes;
  for (size_t i = 0; i < params.size(); ++i) {
    if (model.IsTiedCopy(params[i]) || (params[i]->partition.replicated() && at.tp_rank != 0)) {
      continue;
    }
    mine.push_back(i);
    bytes.push_back(3 * params[i]->value.numel() * 4);
  }
  const std::vector<int> owner = AssignToRanks(bytes, o_.dp);
  ckpt::Shard shard;
  shard.header = {step, cursor, o_.rank, o_.world, o_.mesh, o_.seed, o_.job_hash};
  for (size_t j = 0; j < mine.size(); ++j) {
    if (owner[j] != o_.dp_rank) continue;
    nn::Parameter& p = *params[mine[j]];
    const auto global = nn::GlobalShape(p.value.shape(), p.partition, at.tp);
    const auto pieces = PiecesOf(p, at);
    for (auto& [name, t] : StateOf(p, opt, mine[j])) {
      const float* values = Snapshot(*t);
      int64_t base = 0;
      for (size_t k = 0; k < pieces.size(); ++k) {
        ckpt::TensorSlice s;
        s.name = name;
        s.global_shape = global;
        s.offset = pieces[k].offset;
        s.shape = pieces[k].shape;
        if (k > 0) s.dataset = fmt::format("{}#{}", name, k);
        s.view = values + base;
        base += Volume(pieces[k].shape);
        shard.tensors.push_back(std::move(s));
      }
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

absl::StatusOr<RestoredState> RestoreTogether(comm::Backend* world, ckpt::CheckpointStore& store,
                                              int64_t version, nn::Gpt& model, optim::AdamW& opt) {
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

}  // namespace mt::worker
