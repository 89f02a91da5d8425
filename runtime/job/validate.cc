// Semantic validation of a job (see validate.h). One function per block; each rule names the
// field it blames and shows the value found.
#include "runtime/job/validate.h"

#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mt::job {
namespace {

using meshtrain::v1::JobSpec;

class Checker {
 public:
  explicit Checker(const SourceLines& lines) : lines_(lines) {}

  void Fail(const std::string& path, std::string what, std::string found) {
    problems.push_back(Problem{path, std::move(what), std::move(found), LineOf(path)});
  }
  template <typename T>
  void Positive(const std::string& path, T v) {
    if (v <= 0) Fail(path, "must be positive", absl::StrCat(v));
  }
  template <typename T>
  void NonNegative(const std::string& path, T v) {
    if (v < 0) Fail(path, "must not be negative", absl::StrCat(v));
  }
  // v in [lo, hi) or [lo, hi] when `closed`.
  void InRange(const std::string& path, double v, double lo, double hi, bool closed) {
    if (v < lo || v > hi || (!closed && v == hi)) {
      Fail(path, absl::StrCat("must be in [", lo, ", ", hi, closed ? "]" : ")"), absl::StrCat(v));
    }
  }
  std::vector<Problem> problems;

 private:
  // The line of `path`, else of its closest present ancestor.
  int LineOf(std::string path) const {
    while (!path.empty()) {
      if (auto it = lines_.find(path); it != lines_.end()) return it->second;
      size_t dot = path.find_last_of('.');
      path = dot == std::string::npos ? "" : path.substr(0, dot);
    }
    return 0;
  }
  const SourceLines& lines_;
};

bool IsDnsName(const std::string& s, size_t max_len) {
  static const std::regex kName("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return !s.empty() && s.size() <= max_len && std::regex_match(s, kName);
}

void CheckUri(Checker& c, const std::string& path, const std::string& uri) {
  std::string scheme = UriScheme(uri);
  if (uri.empty()) {
    c.Fail(path, "must not be empty", Quote(uri));
  } else if (scheme != "file" && scheme != "az") {
    c.Fail(path, absl::StrCat("unknown URI scheme '", scheme, "'; expected file:// or az://"),
           Quote(uri));
  } else if (scheme == "az" && std::count(uri.begin(), uri.end(), '/') < 3) {
    c.Fail(path, "expected az://ACCOUNT/CONTAINER[/PREFIX]", Quote(uri));
  }
}

void ValidateModel(Checker& c, const JobSpec& s) {
  const auto& m = s.model();
  c.Positive("model.n_layer", m.n_layer());
  c.Positive("model.n_head", m.n_head());
  c.Positive("model.d_model", m.d_model());
  c.NonNegative("model.d_ff", m.d_ff());
  c.Positive("model.seq_len", m.seq_len());
  c.Positive("model.vocab_size", m.vocab_size());
  if (m.n_head() > 0 && m.d_model() > 0 && m.d_model() % m.n_head() != 0) {
    c.Fail("model.d_model", absl::StrCat("must be divisible by model.n_head = ", m.n_head()),
           absl::StrCat(m.d_model()));
  }
}

// Divisibility of model dimensions by the tensor-parallel degree, and layers by stages.
void ValidateMeshFit(Checker& c, const JobSpec& s) {
  const auto& m = s.model();
  const int tp = s.mesh().tp(), pp = s.mesh().pp();
  auto divisible = [&](const std::string& path, int64_t v, const char* what) {
    if (tp > 0 && v > 0 && v % tp != 0) {
      c.Fail(path, absl::StrCat("must be divisible by mesh.tp = ", tp, " (", what, ")"),
             absl::StrCat(v));
    }
  };
  divisible("model.n_head", m.n_head(), "heads are split over tp");
  divisible("model.d_model", m.d_model(), "hidden size is split over tp");
  divisible("model.d_ff", m.d_ff() == 0 ? 4LL * m.d_model() : m.d_ff(), "MLP is split over tp");
  divisible("model.vocab_size", m.vocab_size(), "embedding and loss are vocab-parallel");
  const int chunks = pp * std::max(1, s.parallel().virtual_stages());
  if (pp > 0 && m.n_layer() > 0 && m.n_layer() < chunks) {
    c.Fail("model.n_layer",
           absl::StrCat("must be at least mesh.pp * parallel.virtual_stages = ", chunks,
                        " (every pipeline stage needs a layer)"),
           absl::StrCat(m.n_layer()));
  }
}

void ValidateMesh(Checker& c, const JobSpec& s, const LoadOptions& o) {
  const auto& mesh = s.mesh();
  c.Positive("mesh.dp", mesh.dp());
  c.Positive("mesh.tp", mesh.tp());
  c.Positive("mesh.pp", mesh.pp());
  if (mesh.dp() <= 0 || mesh.tp() <= 0 || mesh.pp() <= 0) return;
  const int64_t product = int64_t{mesh.dp()} * mesh.tp() * mesh.pp();
  if (o.world > 0 && product != o.world) {
    c.Fail("mesh", absl::StrCat("dp*tp*pp = ", product, " must equal the world size ", o.world),
           absl::StrCat("dp=", mesh.dp(), " tp=", mesh.tp(), " pp=", mesh.pp()));
  }
  ValidateMeshFit(c, s);
}

void ValidateParallel(Checker& c, const JobSpec& s) {
  const auto& p = s.parallel();
  c.Positive("parallel.micro_batches", p.micro_batches());
  c.Positive("parallel.virtual_stages", p.virtual_stages());
  c.Positive("parallel.bucket_mb", p.bucket_mb());
  if (p.zero() != 0 && p.zero() != 1)
    c.Fail("parallel.zero", "must be 0 or 1", absl::StrCat(p.zero()));
  const bool interleaved = p.schedule() == "interleaved";
  if (interleaved && p.virtual_stages() < 2) {
    c.Fail("parallel.virtual_stages", "must be at least 2 with schedule: interleaved",
           absl::StrCat(p.virtual_stages()));
  }
  if (!interleaved && p.virtual_stages() > 1) {
    c.Fail("parallel.virtual_stages", "needs schedule: interleaved",
           absl::StrCat(p.virtual_stages()));
  }
  if (interleaved && s.mesh().pp() < 2) {
    c.Fail("parallel.schedule", "interleaved needs mesh.pp >= 2", Quote(p.schedule()));
  }
  if (p.schedule() == "1f1b" && p.micro_batches() > 0 && p.micro_batches() < s.mesh().pp()) {
    c.Fail("parallel.micro_batches",
           absl::StrCat("must be at least mesh.pp = ", s.mesh().pp(),
                        " for the 1f1b schedule (fewer leave stages idle for the whole step)"),
           absl::StrCat(p.micro_batches()));
  }
  if (interleaved && s.mesh().pp() > 0 && p.micro_batches() % s.mesh().pp() != 0) {
    c.Fail("parallel.micro_batches",
           absl::StrCat("must be a multiple of mesh.pp = ", s.mesh().pp(),
                        " for the interleaved schedule"),
           absl::StrCat(p.micro_batches()));
  }
}

void ValidateTrain(Checker& c, const JobSpec& s) {
  const auto& t = s.train();
  c.Positive("train.global_batch", t.global_batch());
  c.Positive("train.steps", t.steps());
  c.Positive("train.lr", t.lr());
  const int64_t split = int64_t{s.mesh().dp()} * s.parallel().micro_batches();
  if (t.global_batch() > 0 && split > 0 && t.global_batch() % split != 0) {
    c.Fail("train.global_batch",
           absl::StrCat("must be divisible by mesh.dp * parallel.micro_batches = ", split),
           absl::StrCat(t.global_batch()));
  }
  c.NonNegative("train.warmup", t.warmup());
  if (t.steps() > 0 && t.warmup() >= t.steps()) {
    c.Fail("train.warmup", absl::StrCat("must be less than train.steps = ", t.steps()),
           absl::StrCat(t.warmup()));
  }
  c.InRange("train.min_lr_ratio", t.min_lr_ratio(), 0, 1, true);
  c.NonNegative("train.clip", t.clip());
  c.NonNegative("train.weight_decay", t.weight_decay());
  c.InRange("train.beta1", t.beta1(), 0, 1, false);
  c.InRange("train.beta2", t.beta2(), 0, 1, false);
  c.Positive("train.eps", t.eps());
  c.Positive("train.log_every", t.log_every());
}

void ValidateDataAndEval(Checker& c, const JobSpec& s) {
  CheckUri(c, "data.uri", s.data().uri());
  c.InRange("data.eval_fraction", s.data().eval_fraction(), 0, 1, false);
  c.NonNegative("data.prefetch", s.data().prefetch());
  c.Positive("data.cache_mb", s.data().cache_mb());
  c.Positive("data.shuffle_window", s.data().shuffle_window());
  c.NonNegative("eval.every", s.eval().every());
  c.Positive("eval.batches", s.eval().batches());
  if (s.eval().every() > 0 && s.data().eval_fraction() == 0) {
    c.Fail("eval.every", "evaluation needs held-out data: set data.eval_fraction > 0",
           absl::StrCat(s.eval().every()));
  }
}

void ValidateCheckpoint(Checker& c, const JobSpec& s) {
  if (!s.has_checkpoint()) return;
  CheckUri(c, "checkpoint.store", s.checkpoint().store());
  c.NonNegative("checkpoint.every", s.checkpoint().every());
  c.Positive("checkpoint.keep_last", s.checkpoint().keep_last());
}

}  // namespace

namespace {

// HOST:PORT with a port in 1..65535 (HOST may be a name, IPv4, or [IPv6]).
bool IsHostPort(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port;
  return absl::SimpleAtoi(s.substr(colon + 1), &port) && port > 0 && port < 65536;
}

void ValidateControl(Checker& c, const JobSpec& s) {
  const auto& ctl = s.control();
  if (ctl.endpoint() != "embedded" && !IsHostPort(ctl.endpoint())) {
    c.Fail("control.endpoint", "expected 'embedded' or HOST:PORT", Quote(ctl.endpoint()));
  }
  if (!ctl.model().empty() && !IsDnsName(ctl.model(), 50)) {
    c.Fail("control.model", "expected lowercase letters, digits and '-' (at most 50)",
           Quote(ctl.model()));
  }
  if (ctl.promote().metric().empty()) c.Fail("control.promote.metric", "must not be empty", "\"\"");
  c.NonNegative("control.promote.min_improvement", ctl.promote().min_improvement());
  if (ctl.has_retrain() && ctl.retrain().metric().empty()) {
    c.Fail("control.retrain.metric", "must not be empty", "\"\"");
  }
  // Full fine-tuning works; LoRA adapters do not exist yet: refused rather than trained full.
  if (s.has_finetune() && s.finetune().method() == "lora") {
    c.Fail("finetune.method", "lora adapters are not in this build yet; use full",
           Quote(s.finetune().method()));
  }
}

void ValidateFaultTolerance(Checker& c, const JobSpec& s) {
  const auto& ft = s.fault_tolerance();
  c.NonNegative("fault_tolerance.max_restarts", ft.max_restarts());
  c.Positive("fault_tolerance.heartbeat_s", ft.heartbeat_s());
  if (ft.heartbeat_s() > 0 && ft.rendezvous_timeout_s() <= ft.heartbeat_s()) {
    c.Fail("fault_tolerance.rendezvous_timeout_s",
           absl::StrCat("must be more than fault_tolerance.heartbeat_s = ", ft.heartbeat_s()),
           absl::StrCat(ft.rendezvous_timeout_s()));
  }
}

// Which backends can move which buffers: Debian's Gloo and Open MPI are host-only.
void ValidateDevice(Checker& c, const JobSpec& s) {
  if (s.backend() == "nccl" && s.device() != "cuda") {
    c.Fail("backend", "nccl needs device: cuda", Quote(s.backend()));
  }
  if (s.device() == "cuda" && (s.backend() == "gloo" || s.backend() == "mpi")) {
    c.Fail(
        "backend",
        absl::StrCat(s.backend(), " moves host buffers only; use nccl or auto with device: cuda"),
        Quote(s.backend()));
  }
  // Silently training in fp32 would make a CPU run's numbers differ from what the job asks.
  if (s.train().precision() == "bf16" && s.device() != "cuda") {
    c.Fail("train.precision", "bf16 needs device: cuda (the CPU kernels compute in fp32)",
           Quote(s.train().precision()));
  }
}

void ValidateFinetune(Checker& c, const JobSpec& s) {
  if (!s.has_finetune()) return;
  static const std::regex kBase("[a-z0-9]([-a-z0-9]*[a-z0-9])?@(production|staging|[0-9]+)");
  if (!std::regex_match(s.finetune().base(), kBase)) {
    c.Fail("finetune.base", "expected MODEL@production, MODEL@staging or MODEL@VERSION",
           Quote(s.finetune().base()));
  }
  c.Positive("finetune.lora_rank", s.finetune().lora_rank());
  c.Positive("finetune.lora_alpha", s.finetune().lora_alpha());
}

void ValidateResources(Checker& c, const JobSpec& s, int world) {
  const auto& r = s.resources();
  c.Positive("resources.ranks_per_pod", r.ranks_per_pod());
  if (r.ranks_per_pod() > 0 && world > 0 && world % r.ranks_per_pod() != 0) {
    c.Fail("resources.ranks_per_pod", absl::StrCat("must divide the world size ", world),
           absl::StrCat(r.ranks_per_pod()));
  }
  c.NonNegative("resources.gpus_per_pod", r.gpus_per_pod());
  if (s.device() == "cuda" && r.gpus_per_pod() > 0 && r.gpus_per_pod() < r.ranks_per_pod()) {
    c.Fail("resources.gpus_per_pod",
           absl::StrCat("must be at least resources.ranks_per_pod = ", r.ranks_per_pod(),
                        " (one GPU per rank)"),
           absl::StrCat(r.gpus_per_pod()));
  }
  static const std::regex kCpu("[0-9]+(\\.[0-9]+)?m?");
  static const std::regex kMemory("[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?");
  if (!std::regex_match(r.cpu(), kCpu)) {
    c.Fail("resources.cpu", "expected a Kubernetes CPU quantity such as 2 or 500m", Quote(r.cpu()));
  }
  if (!std::regex_match(r.memory(), kMemory)) {
    c.Fail("resources.memory", "expected a Kubernetes memory quantity such as 4Gi",
           Quote(r.memory()));
  }
  if (!std::regex_match(r.control_storage(), kMemory)) {
    c.Fail("resources.control_storage", "expected a Kubernetes storage quantity such as 1Gi",
           Quote(r.control_storage()));
  }
  // GPUs only serve a job whose tensors live on them (device: cpu means a CPU backend; cuda
  // with gloo or mpi is refused above).
  if (r.gpus_per_pod() > 0 && s.device() != "cuda") {
    c.Fail("resources.gpus_per_pod",
           "GPUs requested for a job on the CPU (device: cpu, a CPU backend); set device: cuda "
           "or gpus_per_pod: 0",
           absl::StrCat(r.gpus_per_pod()));
  }
}

}  // namespace

std::vector<Problem> Validate(const JobSpec& spec, const SourceLines& lines,
                              const LoadOptions& options) {
  Checker c(lines);
  if (!IsDnsName(spec.name(), 50)) {
    c.Fail("name", "expected lowercase letters, digits and '-' (at most 50, no leading '-')",
           Quote(spec.name()));
  }
  ValidateModel(c, spec);
  ValidateMesh(c, spec, options);
  ValidateParallel(c, spec);
  ValidateTrain(c, spec);
  ValidateDataAndEval(c, spec);
  ValidateCheckpoint(c, spec);
  ValidateControl(c, spec);
  ValidateFaultTolerance(c, spec);
  ValidateDevice(c, spec);
  ValidateFinetune(c, spec);
  ValidateResources(c, spec, WorldSize(spec, options));
  return std::move(c.problems);
}

std::string UriScheme(std::string_view uri) {
  size_t sep = uri.find("://");
  if (sep == std::string_view::npos) return "file";
  return std::string(uri.substr(0, sep));
}

int WorldSize(const JobSpec& spec, const LoadOptions& options) {
  if (options.world > 0) return options.world;
  return spec.mesh().dp() * spec.mesh().tp() * spec.mesh().pp();
}

std::string ResolveBackend(const JobSpec& spec, bool under_mpirun) {
  if (spec.backend() != "auto") return spec.backend();
  if (spec.device() == "cuda") return "nccl";
  return under_mpirun ? "mpi" : "gloo";
}

}  // namespace mt::job
