// The control service in this process (see local_control.h).
#include "control/service/local_control.h"

#include <cstring>
#include <filesystem>

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

}  // namespace

absl::StatusOr<std::unique_ptr<LocalControl>> LocalControl::Open(LocalControlOptions o) {
  MT_ASSIGN_OR_RETURN(auto registry, Registry::Open(o.db));
  if (o.runs_dir.empty()) {
    o.runs_dir = std::filesystem::absolute(o.db).parent_path().lexically_normal().string();
  }
  if (!o.submitter) o.submitter = std::make_shared<LocalSubmitter>("/proc/self/exe");
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

absl::Status LocalControl::FillAliases(VersionInfo& v) {
  for (const char* alias : {"production", "staging"}) {
    MT_ASSIGN_OR_RETURN(std::optional<int64_t> at, registry_->Alias(v.model, alias));
    if (at && *at == v.version) v.aliases.push_back(alias);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VersionInfo>> LocalControl::Versions(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, registry_->Versions(model));
  for (VersionInfo& v : versions) MT_RETURN_IF_ERROR(FillAliases(v));
  return versions;
}

absl::StatusOr<VersionInfo> LocalControl::Resolve(const std::string& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  MT_ASSIGN_OR_RETURN(VersionInfo v, registry_->Resolve(ref));
  MT_ASSIGN_OR_RETURN(v.job_json, registry_->Job(v.model, v.version));
  MT_RETURN_IF_ERROR(FillAliases(v));
  return v;
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
  if (!r.ok()) {
    t.reason += fmt::format(" (failed to start: {})", std::string(r.status().message()));
    return t;
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
  MT_ASSIGN_OR_RETURN(std::string job, registry_->Job(model, base));
  MT_ASSIGN_OR_RETURN(r, registry_->AddRetrain(r, options_.runs_dir));
  std::string token_file;
  absl::Status written = MakeDirs(r.run_dir);
  if (written.ok() && !token_.empty()) {
    token_file = r.run_dir + "/control.token";
    written = WriteFileAtomic(token_file, token_ + "\n");
    std::error_code ec;  // owner only: it is a secret
    std::filesystem::permissions(
        token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  }
  auto spec = written.ok() ? RetrainJobSpec(job, r, options_.db, endpoint_, token_file)
                           : absl::StatusOr<meshtrain::v1::JobSpec>(written);
  absl::Status started =
      spec.ok() ? options_.submitter->Submit(
                      r, *spec, options_.db,
                      [this, id = r.id](const JobOutcome& o) {
                        std::lock_guard<std::mutex> lock(mu_);
                        absl::Status s = registry_->FinishRetrain(id, o.ok, o.exit_code, o.version);
                        if (!s.ok()) {
                          MT_LOG(kError, kInit, "retrain {}: {}", id, std::string(s.message()));
                        }
                      })
                : spec.status();
  if (!started.ok()) {
    MT_RETURN_IF_ERROR(registry_->FinishRetrain(r.id, false, -1, std::nullopt));
    return started;
  }
  return r;
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
  const json body = json::parse(body_json, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return absl::InvalidArgumentError(fmt::format("audit record '{}': the body is not JSON", kind));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->AppendAudit(kind, body);
}

absl::StatusOr<std::vector<AuditRecord>> LocalControl::Audit() {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->Audit();
}

absl::Status LocalControl::VerifyAudit() {
  std::lock_guard<std::mutex> lock(mu_);
  return registry_->VerifyAudit();
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
