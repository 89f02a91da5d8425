// What the control service does, as one interface with two implementations: LocalControl
// (the SQLite file in this process: `meshtrain run`'s embedded service, `--db FILE`) and
// ControlClient (a running `meshtrain control` over gRPC: `--control ADDR`). Commands are
// written once against it. Every method blocks until done; errors as the registry's
// (NotFound, InvalidArgument, FailedPrecondition; a refused change changes nothing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/registry/registry.h"

namespace mt::control {

// What a production metric report or a dataset registration set off.
struct TriggerResult {
  bool crossed = false;    // the value was below the retrain threshold
  bool submitted = false;  // a fine-tune job was submitted
  std::string reason;      // why, or why not
  std::optional<RetrainInfo> retrain;
};

struct ProductionMetric {
  std::string model, metric;
  double value = 0;
  std::string data_uri;  // optional: retrain on this (default: the newest registered dataset)
  std::string source;    // who reports
};

struct MetricPoint {
  int64_t step = 0;
  std::string name;
  double value = 0;
};

class ControlApi {
 public:
  virtual ~ControlApi() = default;

  virtual absl::StatusOr<VersionInfo> Register(VersionInfo v) = 0;
  virtual absl::StatusOr<Decision> Evaluate(const std::string& model, int64_t version,
                                            const Policy& policy) = 0;
  virtual absl::StatusOr<Decision> Promote(const std::string& model, int64_t version,
                                           const std::string& reason) = 0;
  virtual absl::StatusOr<Decision> Rollback(const std::string& model,
                                            const std::string& reason) = 0;
  virtual absl::StatusOr<std::vector<std::string>> Models() = 0;
  // With aliases filled in.
  virtual absl::StatusOr<std::vector<VersionInfo>> Versions(const std::string& model) = 0;
  // With aliases and job_json filled in.
  virtual absl::StatusOr<VersionInfo> Resolve(const std::string& ref) = 0;
  virtual absl::StatusOr<std::vector<Decision>> Decisions(const std::string& model) = 0;

  virtual absl::StatusOr<std::pair<DatasetInfo, TriggerResult>> RegisterDataset(
      const std::string& model, const std::string& uri) = 0;
  virtual absl::StatusOr<TriggerResult> ReportProductionMetric(const ProductionMetric& m) = 0;
  virtual absl::StatusOr<std::vector<RetrainInfo>> Retrains(const std::string& model) = 0;

  // Training metrics for the control service's sinks; returns how many were accepted.
  virtual absl::StatusOr<int64_t> ReportMetrics(const std::string& job_id, const std::string& model,
                                                const std::vector<MetricPoint>& points) = 0;

  // The records of events jobs report: kinds "data read" and "checkpoint committed" only (the
  // service writes the others itself); InvalidArgument for any other kind or a body that is
  // not JSON.
  virtual absl::StatusOr<AuditRecord> AppendAudit(const std::string& kind,
                                                  const std::string& body_json) = 0;
  // Every record (the client fetches them in pages).
  virtual absl::StatusOr<std::vector<AuditRecord>> Audit() = 0;
  // The head of a chain that verifies, or DataLoss naming the first bad record.
  virtual absl::StatusOr<AuditHead> VerifyAudit() = 0;

  // For messages: the database file, or "control service HOST:PORT".
  virtual std::string where() const = 0;
};

}  // namespace mt::control
