// The control service in this process (see local_control.h).
#include "control/service/local_control.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "control/trigger/decide.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/data/dataset.h"
#include "runtime/metrics/prometheus.h"

namespace mt::control {
namespace {

using json = nlohmann::json;

// A job id as a file name: anything but [A-Za-z0-9._-] becomes '_'.
std::string FileName(const std::string& job_id) {
  std::string out = job_id.empty() ? "job" : job_id;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (out.starts_with(".")) out = "_" + out;
  return out;
}

absl::StatusOr<std::optional<meshtrain::v1::JobSpec>> ParseJob(const std::string& text) {
  if (text.empty()) return std::optional<meshtrain::v1::JobSpec>();
  meshtrain::v1::JobSpec spec;
  if (!google::protobuf::util::JsonStringToMessage(text, &spec).ok()) {
    return std::optional<meshtrain::v1::JobSpec>();  // Decide says "registered without its job"
  }
  return std::optional<meshtrain::v1::JobSpec>(std::move(spec));
}

// "HOST:PID" of this process: who records the end of the retrains it starts.
std::string Owner() { return fmt::format("{}:{}", log::HostName(), getpid()); }

// Retrains marked running whose owner, on this host, is gone (killed, crashed) never get
// their end recorded: mark them failed, or they would block their model's retrains forever.
absl::Status Reconcile(Registry& registry) {
  MT_ASSIGN_OR_RETURN(std::vector<RetrainInfo> running, registry.RunningRetrains());
  const std::string host = log::HostName() + ":";
  for (const RetrainInfo& r : running) {
    int64_t pid = 0;
    if (!r.owner.starts_with(host) || !absl::SimpleAtoi(r.owner.substr(host.size()), &pid)) {
      continue;  // another host's: it may well be alive
    }
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    MT_LOG(kWarn, kInit, "retrain {} of {}: its control service ({}) is gone; marked failed", r.id,
           r.model, r.owner);
    MT_RETURN_IF_ERROR(registry.FinishRetrain(r.id, false, -1, std::nullopt));
  }
  return absl::OkStatus();
}

// A secret file: created owner-only (0600) and new, so no one else ever reads it.
absl::Status WriteSecret(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(fmt::format("{}: {}", path, std::strerror(errno)));
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!written) return absl::InternalError(fmt::format("{}: short write", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalControl>> LocalControl::Open(LocalControlOptions o) {
  MT_ASSIGN_OR_RETURN(auto registry, Registry::Open(o.db, o.create));
  if (o.runs_dir.empty()) {
    o.runs_dir = std::filesystem::absolute(o.db).parent_path().lexically_normal().string();
  }
  if (!o.submitter) o.submitter = std::make_shared<LocalSubmitter>("/proc/self/exe");
  MT_RETURN_IF_ERROR(Reconcile(*registry));
  return std::unique_ptr<LocalControl>(new LocalControl(std::move(o), std::move(registry)));
}

LocalControl::~LocalControl() {
  // Retrains report back into this object: end them (or, when the submitter is shared and
  // outlives us, wait for them) while the registry is still here.
  std::shared_ptr<Submitter> s = std::move(options_.submitter);
  if (s && s.use_count() > 1) s->WaitAll();
  s.reset();
}

void LocalControl::WaitRetrains() { options_.submitter->WaitAll(); }

void LocalControl::Advertise(std::string address, std::string token) {
  // Retrains run on this host: a wildcard listen address is reached through loopback.
  for (const char* any : {"0.0.0.0:", "[::]:", ":"}) {
    if (address.starts_with(any)) address = "127.0.0.1:" + address.substr(std::strlen(any));
  }
  std::lock_guard<std::mutex> lock(mu_);
  endpoint_ = std::move(address);
  token_ = std::move(token);
}

absl::StatusOr<VersionInfo> LocalControl::Register(VersionInfo v) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Register(std::move(v));
}

absl::StatusOr<Decision> LocalControl::Evaluate(const std::string& model, int64_t version,
                                                const Policy& policy) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Evaluate(model, version, policy);
}

absl::StatusOr<Decision> LocalControl::Promote(const std::string& model, int64_t version,
                                               const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Promote(model, version, reason);
}

absl::StatusOr<Decision> LocalControl::Rollback(const std::string& model,
                                                const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Rollback(model, reason);
}

absl::StatusOr<std::vector<std::string>> LocalControl::Models() {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Models();
}

// The two aliases of `model` are read once, then marked on each version.
absl::Status LocalControl::FillAliases(const std::string& model,
                                       std::vector<VersionInfo>& versions) {
  for (const char* alias : {"production", "staging"}) {
    MT_ASSIGN_OR_RETURN(std::optional<int64_t> at, registry_->Alias(model, alias));
    if (!at) continue;
    for (VersionInfo& v : versions) {
      if (v.version == *at) v.aliases.push_back(alias);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VersionInfo>> LocalControl::Versions(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, registry_->Versions(model));
  MT_RETURN_IF_ERROR(FillAliases(model, versions));
  return versions;
}

absl::StatusOr<VersionInfo> LocalControl::Resolve(const std::string& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(VersionInfo v, registry_->Resolve(ref));
  MT_ASSIGN_OR_RETURN(v.job_json, registry_->Job(v.model, v.version));
  std::vector<VersionInfo> one = {std::move(v)};
  MT_RETURN_IF_ERROR(FillAliases(one[0].model, one));
  return std::move(one[0]);
}

absl::StatusOr<std::vector<Decision>> LocalControl::Decisions(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Decisions(model);
}

absl::StatusOr<std::vector<RetrainInfo>> LocalControl::Retrains(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Retrains(model);
}

absl::StatusOr<std::pair<DatasetInfo, TriggerResult>> LocalControl::RegisterDataset(
    const std::string& model, const std::string& uri) {
  auto fingerprint = data::Fingerprint(uri);  // reads the index: outside the lock
  if (!fingerprint.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("dataset {}: {}", uri, std::string(fingerprint.status().message())));
  }
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, registry_->Versions(model));
  if (versions.empty()) {
    return absl::NotFoundError(fmt::format("{}: no model '{}' in the registry", where(), model));
  }
  MT_ASSIGN_OR_RETURN(DatasetInfo d, registry_->AddDataset(model, uri, *fingerprint));
  MT_ASSIGN_OR_RETURN(TriggerResult t, Carry(model, uri, nullptr));
  return std::make_pair(d, t);
}

absl::StatusOr<TriggerResult> LocalControl::ReportProductionMetric(const ProductionMetric& m) {
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, registry_->Versions(m.model));
  if (versions.empty()) {
    return absl::NotFoundError(fmt::format("{}: no model '{}' in the registry", where(), m.model));
  }
  if (m.metric.empty()) return absl::InvalidArgumentError("production metric: no metric name");
  production_metrics_[{m.model, m.metric}] = m.value;
  std::string data = m.data_uri;
  if (data.empty()) {  // the newest dataset registered for the model
    MT_ASSIGN_OR_RETURN(std::vector<DatasetInfo> datasets, registry_->Datasets(m.model));
    if (!datasets.empty()) data = datasets.back().uri;
  }
  return Carry(m.model, data, &m);
}

// See the header; the crossing is audited before the retrain it starts.
absl::StatusOr<TriggerResult> LocalControl::Carry(const std::string& model,
                                                  const std::string& data_uri,
                                                  const ProductionMetric* metric) {
  TriggerState state;
  state.model = model;
  MT_ASSIGN_OR_RETURN(state.production, registry_->Alias(model, "production"));
  std::string data = data_uri;
  if (state.production) {
    MT_ASSIGN_OR_RETURN(std::string job, registry_->Job(model, *state.production));
    MT_ASSIGN_OR_RETURN(state.prod_job, ParseJob(job));
    if (data.empty() && state.prod_job) data = state.prod_job->data().uri();  // its own data
  }
  MT_ASSIGN_OR_RETURN(state.retrains, registry_->Retrains(model));
  const RetrainPlan plan = metric ? DecideOnMetric(state, metric->metric, metric->value, data)
                                  : DecideOnDataset(state, data);
  if (plan.crossed) {  // recorded before what it sets off
    MT_RETURN_IF_ERROR(registry_
                           ->AppendAudit("threshold crossed", {{"model", model},
                                                               {"metric", metric->metric},
                                                               {"value", metric->value},
                                                               {"source", metric->source},
                                                               {"decision", plan.reason}})
                           .status());
  }
  TriggerResult t{plan.crossed, false, plan.reason, std::nullopt};
  if (!plan.submit) return t;
  auto r = StartRetrain(model, *state.production, data, plan.reason);
  if (!r.ok() && r.status().code() == absl::StatusCode::kFailedPrecondition) {
    t.reason += "; not retraining: " + std::string(r.status().message());  // another process's
    return t;
  }
  if (!r.ok()) {
    return absl::Status(r.status().code(),
                        fmt::format("{}; the retrain could not start: {}", plan.reason,
                                    std::string(r.status().message())));
  }
  t.submitted = true;
  t.retrain = *r;
  return t;
}

absl::StatusOr<RetrainInfo> LocalControl::StartRetrain(const std::string& model, int64_t base,
                                                       const std::string& data_uri,
                                                       const std::string& reason) {
  RetrainInfo r;
  r.model = model;
  r.base_version = base;
  r.data_uri = data_uri;
  r.reason = reason;
  r.owner = Owner();
  MT_ASSIGN_OR_RETURN(std::string job, registry_->Job(model, base));
  MT_ASSIGN_OR_RETURN(r, registry_->AddRetrain(r, options_.runs_dir));
  std::string token_file;
  absl::Status started = MakeDirs(r.run_dir);
  if (started.ok() && !token_.empty()) {
    token_file = r.run_dir + "/control.token";
    started = WriteSecret(token_file, token_ + "\n");
  }
  absl::StatusOr<meshtrain::v1::JobSpec> spec =
      started.ok() ? RetrainJobSpec(job, r, options_.db, endpoint_, token_file)
                   : absl::StatusOr<meshtrain::v1::JobSpec>(started);
  if (spec.ok()) {
    started = options_.submitter->Submit(r, *spec, options_.db,
                                         [this, r](const JobOutcome& o) { Ended(r, o); });
  } else {
    started = spec.status();
  }
  if (!started.ok()) {  // recorded as failed; the cause is what the caller sees
    if (absl::Status s = registry_->FinishRetrain(r.id, false, -1, std::nullopt); !s.ok()) {
      MT_LOG(kError, kInit, "retrain {}: {}", r.id, std::string(s.message()));
    }
    return started;
  }
  return r;
}

void LocalControl::Ended(const RetrainInfo& r, JobOutcome o) {
  const int64_t id = r.id;
  if (o.ok && !o.version) {
    // A submitter that cannot read the run's summary (a Kubernetes Job): the version is the
    // one with this base as parent registered since the retrain started (one retrain of a
    // model runs at a time).
    std::lock_guard<std::mutex> lock(mu_);
    auto versions = registry_->Versions(r.model);
    for (const VersionInfo& v : versions.ok() ? *versions : std::vector<VersionInfo>{}) {
      if (v.parent == r.base_version && v.created >= r.created) o.version = v.version;
    }
  }
  // The database may be busy (another process holds the write lock past the busy timeout):
  // a retrain left "running" would block the model's retrains, so try again.
  absl::Status s;
  for (int attempt = 0; attempt < 5; ++attempt) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      s = registry_->FinishRetrain(id, o.ok, o.exit_code, o.version);
    }
    if (s.ok() || s.code() == absl::StatusCode::kFailedPrecondition) return;
    std::this_thread::sleep_for(std::chrono::seconds(1 << attempt));
  }
  MT_LOG(kError, kInit, "retrain {} ended (exit {}) but could not be recorded: {}", id, o.exit_code,
         std::string(s.message()));
}

absl::StatusOr<LocalControl::JobSinks*> LocalControl::SinksFor(const std::string& job_id) {
  auto& sinks = sinks_[job_id];
  if (sinks) return sinks.get();
  auto made = std::make_unique<JobSinks>();
  const std::string name = FileName(job_id);
  MT_RETURN_IF_ERROR(MakeDirs(options_.runs_dir + "/metrics"));
  MT_RETURN_IF_ERROR(made->jsonl.Open(options_.runs_dir + "/metrics/" + name + ".jsonl", false));
  MT_RETURN_IF_ERROR(made->tb.Open(options_.runs_dir + "/tb/" + name));
  sinks = std::move(made);
  return sinks.get();
}

absl::StatusOr<int64_t> LocalControl::ReportMetrics(const std::string& job_id,
                                                    const std::string& model,
                                                    const std::vector<MetricPoint>& points) {
  if (job_id.empty()) return absl::InvalidArgumentError("report metrics: the job id is empty");
  // One record per step, in the order the steps first appear.
  std::vector<std::pair<int64_t, std::vector<std::pair<std::string, double>>>> steps;
  for (const MetricPoint& p : points) {
    if (p.name.empty()) return absl::InvalidArgumentError("report metrics: a point has no name");
    if (steps.empty() || steps.back().first != p.step) steps.push_back({p.step, {}});
    steps.back().second.emplace_back(p.name, p.value);
  }
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(JobSinks * sinks, SinksFor(job_id));
  for (const auto& [step, values] : steps) {
    json record = {{"step", step}, {"job", job_id}, {"model", model}};
    for (const auto& [name, value] : values) {
      record[name] = value;
      train_metrics_[{job_id, model, name}] = value;
    }
    MT_RETURN_IF_ERROR(sinks->jsonl.Write(record));
    MT_RETURN_IF_ERROR(sinks->tb.Scalars(step, values));
  }
  points_ += static_cast<int64_t>(points.size());
  return static_cast<int64_t>(points.size());
}

absl::StatusOr<AuditRecord> LocalControl::AppendAudit(const std::string& kind,
                                                      const std::string& body_json) {
  if (kind != "data read" && kind != "checkpoint committed") {
    return absl::InvalidArgumentError(fmt::format(
        "audit record kind '{}': jobs append \"data read\" and \"checkpoint committed\" only",
        kind));
  }
  const json body = json::parse(body_json, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return absl::InvalidArgumentError(fmt::format("audit record '{}': the body is not JSON", kind));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->AppendAudit(kind, body);
}

absl::StatusOr<std::vector<AuditRecord>> LocalControl::AuditPage(int64_t after_id, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Audit(after_id, limit);
}

absl::StatusOr<std::vector<AuditRecord>> LocalControl::Audit() {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Audit();
}

absl::StatusOr<AuditHead> LocalControl::VerifyAudit() {
  std::lock_guard<std::mutex> lock(mu_);
  AuditHead head;
  MT_RETURN_IF_ERROR(registry_->VerifyAudit(&head));
  return head;
}

std::string LocalControl::PrometheusText() {
  std::lock_guard<std::mutex> lock(mu_);
  metrics::PromText out;
  auto models = registry_->Models();
  out.Family("meshtrain_registry_versions", "gauge", "Registered versions per model.");
  for (const std::string& m : models.ok() ? *models : std::vector<std::string>{}) {
    auto versions = registry_->Versions(m);
    out.Sample("meshtrain_registry_versions", {{"model", m}},
               versions.ok() ? static_cast<double>(versions->size()) : 0);
  }
  out.Family("meshtrain_registry_production_version", "gauge",
             "The version the production alias points at (0: none).");
  for (const std::string& m : models.ok() ? *models : std::vector<std::string>{}) {
    auto prod = registry_->Alias(m, "production");
    out.Sample("meshtrain_registry_production_version", {{"model", m}},
               prod.ok() && *prod ? static_cast<double>(**prod) : 0);
  }
  out.Family("meshtrain_retrains", "gauge", "Retrain jobs by state.");
  for (const std::string& m : models.ok() ? *models : std::vector<std::string>{}) {
    std::map<std::string, int> by_state = {{"running", 0}, {"succeeded", 0}, {"failed", 0}};
    auto retrains = registry_->Retrains(m);
    for (const RetrainInfo& r : retrains.ok() ? *retrains : std::vector<RetrainInfo>{}) {
      ++by_state[r.state];
    }
    for (const auto& [state, n] : by_state) {
      out.Sample("meshtrain_retrains", {{"model", m}, {"state", state}}, n);
    }
  }
  auto audit = registry_->Audit();
  out.Family("meshtrain_audit_records", "gauge", "Records in the audit chain.");
  out.Sample("meshtrain_audit_records", {}, audit.ok() ? static_cast<double>(audit->size()) : 0);
  out.Family("meshtrain_production_metric", "gauge", "Last production metric reported.");
  for (const auto& [key, v] : production_metrics_) {
    out.Sample("meshtrain_production_metric", {{"model", key.first}, {"metric", key.second}}, v);
  }
  out.Family("meshtrain_train_metric", "gauge", "Last training metric reported, per job.");
  for (const auto& [key, v] : train_metrics_) {
    const auto& [job, model, name] = key;
    out.Sample("meshtrain_train_metric", {{"job", job}, {"model", model}, {"name", name}}, v);
  }
  out.Family("meshtrain_control_metric_points_total", "counter",
             "Training metric points received.");
  out.Sample("meshtrain_control_metric_points_total", {}, static_cast<double>(points_));
  return out.text();
}

}  // namespace mt::control
