// Shared pre-training checks (see preflight.h).
#include "train/preflight.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "runtime/job/summary.h"
#include "runtime/storage/azure_store.h"
#include "train/trainer.h"

namespace mt::train {
namespace {

namespace fs = std::filesystem;

int64_t MemAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;  // unknown: not checked
}

// "" when a directory could be made and written at `path` (it, or its nearest existing
// ancestor, is a writable directory); else why not. Writes nothing.
std::string WhyNotWritable(const std::string& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  if (!fs::is_directory(p, ec)) return fmt::format("{} is not a directory", p.string());
  if (::access(p.c_str(), W_OK | X_OK) != 0) {
    return fmt::format("{} is not writable ({})", p.string(), strerror(errno));
  }
  return "";
}

// A store URI: local paths checked like a directory; az:// needs usable credentials.
std::string WhyNotWritableStore(const std::string& uri) {
  if (uri.starts_with("az://")) {
    auto creds = storage::AzureCredentialsForUri(uri);
    return creds.ok() ? "" : std::string(creds.status().message());
  }
  return WhyNotWritable(uri.starts_with("file://") ? uri.substr(7) : uri);
}

void CheckOutputs(const meshtrain::v1::JobSpec& spec, const PreflightOptions& o,
                  std::vector<std::string>& problems) {
  if (!o.run_dir.empty()) {
    if (std::string why = WhyNotWritable(o.run_dir); !why.empty()) {
      problems.push_back(fmt::format("--run-dir {}: cannot be written: {}", o.run_dir, why));
    }
  }
  if (spec.has_checkpoint()) {
    const std::string& store = spec.checkpoint().store();
    if (std::string why = WhyNotWritableStore(store); !why.empty()) {
      problems.push_back(fmt::format("checkpoint.store {}: cannot be written: {}", store, why));
    }
  }
  if (spec.control().endpoint() == "embedded" && !spec.control().db().empty()) {
    const std::string dir = fs::path(spec.control().db()).parent_path().string();
    if (std::string why = WhyNotWritable(dir.empty() ? "." : dir); !why.empty()) {
      problems.push_back(
          fmt::format("control.db {}: cannot be written: {}", spec.control().db(), why));
    }
  }
}

void CheckMemory(const meshtrain::v1::JobSpec& spec, const PreflightOptions& o,
                 std::vector<std::string>& problems) {
  if (spec.device() == "cuda") return;  // device memory: checked by the device model
  const int world = spec.mesh().dp() * spec.mesh().tp() * spec.mesh().pp();
  int ranks = o.ranks_here > 0 ? o.ranks_here : world;
  if (o.ranks_here == 0 && spec.has_resources())
    ranks = std::max(1, spec.resources().ranks_per_pod());
  const int64_t available = o.available_bytes > 0 ? o.available_bytes : MemAvailable();
  const MemoryEstimate m = EstimateMemory(spec);
  const double need = static_cast<double>(m.PerRank()) * ranks;
  if (available <= 0 || need <= 0.9 * static_cast<double>(available)) return;
  problems.push_back(fmt::format(
      "model: needs about {} for {} rank(s) on this machine ({} per rank: parameters {}, "
      "gradients {}, optimizer {}, activations {}); {} is available. Use a smaller model or "
      "micro-batch, more tp/pp, or parallel.zero: 1",
      HumanBytes(need), ranks, HumanBytes(m.PerRank()), HumanBytes(m.parameters),
      HumanBytes(m.gradients), HumanBytes(m.optimizer), HumanBytes(m.activations),
      HumanBytes(available)));
}

}  // namespace

std::string HumanBytes(double b) {
  if (b >= 1024.0 * 1024 * 1024 * 1024)
    return fmt::format("{:.1f} TiB", b / (1024.0 * 1024 * 1024 * 1024));
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}

MemoryEstimate EstimateMemory(const meshtrain::v1::JobSpec& spec) {
  const auto& model = spec.model();
  const auto& mesh = spec.mesh();
  const double shard = std::max(1, mesh.tp() * mesh.pp());
  const double params = static_cast<double>(job::ParameterCount(model)) / shard;
  MemoryEstimate e;
  e.parameters = static_cast<int64_t>(4 * params);
  e.gradients = e.parameters;
  e.optimizer = static_cast<int64_t>(8 * params / (spec.parallel().zero() >= 1 ? mesh.dp() : 1));
  const double micro = std::max<int64_t>(
      1, spec.train().global_batch() /
             std::max<int64_t>(1, int64_t{mesh.dp()} * spec.parallel().micro_batches()));
  const double tokens = micro * model.seq_len();
  const double d = model.d_model(), d_ff = model.d_ff() > 0 ? model.d_ff() : 4.0 * d;
  const double heads = std::max(1, model.n_head() / std::max(1, mesh.tp()));
  // Per layer and token: ~10 d-wide tensors (inputs, norms, q/k/v, attention out, projection),
  // 2 d_ff-wide (the MLP before and after GELU), both over tp, and the attention scores and
  // probabilities (heads x seq).
  const double per_layer_token = (10 * d + 2 * d_ff) / mesh.tp() + 2 * heads * model.seq_len();
  const double layers = static_cast<double>(model.n_layer()) / std::max(1, mesh.pp());
  const int in_flight = mesh.pp() <= 1 ? 1
                        : spec.parallel().schedule() == "gpipe"
                            ? spec.parallel().micro_batches()
                            : std::min(spec.parallel().micro_batches(), mesh.pp());
  const double logits = 3.0 * tokens * model.vocab_size() / mesh.tp();  // logits, probs, grad
  e.activations =
      static_cast<int64_t>(4 * (in_flight * tokens * layers * per_layer_token + logits));
  return e;
}

absl::Status Preflight(const meshtrain::v1::JobSpec& spec, const PreflightOptions& o) {
  std::vector<std::string> problems;
  if (absl::Status trainable = CheckTrainable(spec); !trainable.ok()) {
    problems.emplace_back(trainable.message());
  }
  CheckOutputs(spec, o, problems);
  CheckMemory(spec, o, problems);
  if (problems.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrJoin(problems, "\n"));
}

}  // namespace mt::train
