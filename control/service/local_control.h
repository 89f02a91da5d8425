// The control service's work in this process (ControlApi over the SQLite registry): what
// `meshtrain control` serves over gRPC, what `meshtrain run` embeds, and what the registry
// commands use with --db. It adds to the registry the retrain trigger (decide.h carried out
// through a Submitter) and the sinks of training metrics reported to it.
//
// Thread-safe: one connection, calls serialized (SQLite serializes writers anyway; the
// registry benchmark measures what this costs). Other processes may use the same file.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "control/service/control_api.h"
#include "control/trigger/submitter.h"
#include "runtime/metrics/jsonl_sink.h"
#include "runtime/metrics/tensorboard_sink.h"

namespace mt::control {

struct LocalControlOptions {
  std::string db;      // the registry file
  bool create = true;  // create it when missing; false: NotFound (commands that read)
  // Where retrains run (RUNS_DIR/MODEL-retrain-ID) and reported training metrics are written
  // (RUNS_DIR/metrics/JOB.jsonl, RUNS_DIR/tb/JOB); default: the registry file's directory.
  std::string runs_dir;
  // Runs retrains; null: a LocalSubmitter of this executable (/proc/self/exe).
  std::shared_ptr<Submitter> submitter;
};

class LocalControl final : public ControlApi {
 public:
  static absl::StatusOr<std::unique_ptr<LocalControl>> Open(LocalControlOptions options);
  ~LocalControl() override;  // stops retrains still running (the submitter's destructor)

  absl::StatusOr<VersionInfo> Register(VersionInfo v) override;
  absl::StatusOr<Decision> Evaluate(const std::string& model, int64_t version,
                                    const Policy& policy) override;
  absl::StatusOr<Decision> Promote(const std::string& model, int64_t version,
                                   const std::string& reason) override;
  absl::StatusOr<Decision> Rollback(const std::string& model, const std::string& reason) override;
  absl::StatusOr<std::vector<std::string>> Models() override;
  absl::StatusOr<std::vector<VersionInfo>> Versions(const std::string& model) override;
  absl::StatusOr<VersionInfo> Resolve(const std::string& ref) override;
  absl::StatusOr<std::vector<Decision>> Decisions(const std::string& model) override;
  absl::StatusOr<std::pair<DatasetInfo, TriggerResult>> RegisterDataset(
      const std::string& model, const std::string& uri) override;
  absl::StatusOr<TriggerResult> ReportProductionMetric(const ProductionMetric& m) override;
  absl::StatusOr<std::vector<RetrainInfo>> Retrains(const std::string& model) override;
  absl::StatusOr<int64_t> ReportMetrics(const std::string& job_id, const std::string& model,
                                        const std::vector<MetricPoint>& points) override;
  absl::StatusOr<AuditRecord> AppendAudit(const std::string& kind,
                                          const std::string& body_json) override;
  absl::StatusOr<std::vector<AuditRecord>> Audit() override;
  absl::StatusOr<AuditHead> VerifyAudit() override;
  std::string where() const override { return options_.db; }

  // Records with id > after_id, at most `limit` (the server's pages).
  absl::StatusOr<std::vector<AuditRecord>> AuditPage(int64_t after_id, int64_t limit);
  // Blocks until every submitted retrain has ended and been recorded.
  void WaitRetrains();
  // The service is reachable at HOST:PORT (ControlServer::Start calls this): retrains then
  // report to it over gRPC — their metrics reach its sinks — with `token` (written to a 0600
  // file in the retrain's run dir) when one is required.
  void Advertise(std::string address, std::string token);
  // The Prometheus text of the registry, the retrains and the metrics reported.
  std::string PrometheusText();

 private:
  struct JobSinks {
    metrics::JsonlSink jsonl;
    metrics::TensorBoardSink tb;
  };
  LocalControl(LocalControlOptions options, std::unique_ptr<Registry> registry)
      : options_(std::move(options)), registry_(std::move(registry)) {}
  absl::Status FillAliases(const std::string& model, std::vector<VersionInfo>& versions);
  // Decides (control/trigger/decide.h) on a metric report (`metric`) or a new dataset (null)
  // and carries the plan out: audit the crossing, start the retrain.
  absl::StatusOr<TriggerResult> Carry(const std::string& model, const std::string& data_uri,
                                      const ProductionMetric* metric);
  absl::StatusOr<RetrainInfo> StartRetrain(const std::string& model, int64_t base,
                                           const std::string& data_uri, const std::string& reason);
  absl::StatusOr<JobSinks*> SinksFor(const std::string& job_id);
  // A retrain's job ended (the submitter's thread): record it, retrying while the database is
  // busy.
  void Ended(const RetrainInfo& r, JobOutcome o);

  LocalControlOptions options_;
  std::mutex mu_;
  std::string endpoint_, token_;  // Advertise(); guarded by mu_
  std::unique_ptr<Registry> registry_;
  std::map<std::string, std::unique_ptr<JobSinks>> sinks_;
  // Last values reported: (job, model, name) -> value; (model, metric) -> production value.
  std::map<std::tuple<std::string, std::string, std::string>, double> train_metrics_;
  std::map<std::pair<std::string, std::string>, double> production_metrics_;
  int64_t points_ = 0;
};

}  // namespace mt::control
