// The model registry (DESIGN §3 "Control service"): per model, numbered versions (a checkpoint
// URI and version, metrics, the parent version it was fine-tuned from, the data fingerprint,
// the job-spec hash), the aliases `production` and `staging`, and every promotion decision
// with its reason. SQLite in WAL mode; each change is one transaction that also appends its
// audit record and stores the audit head it produced, so the registry and its audit trail
// never disagree. Safe for many processes and threads at once (one Registry per thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/registry/audit_log.h"
#include "control/registry/policy.h"
#include "control/registry/sqlite_db.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::control {

struct VersionInfo {
  std::string model;
  int64_t version = 0;  // assigned by Register: 1, 2, ... per model
  std::string checkpoint_uri;
  int64_t checkpoint_version = 0;
  Metrics metrics;
  std::optional<int64_t> parent;  // the version it was fine-tuned from
  std::string data_fingerprint, job_hash, created;
  // The job spec that produced it, as JSON (a retrain runs it again on new data). Register
  // stores it; Get and Versions leave it empty (Job reads it).
  std::string job_json;
  std::vector<std::string> aliases;  // production, staging: filled by ControlApi, not here
};

struct DatasetInfo {
  int64_t id = 0;
  std::string model, uri, fingerprint, created;
};

// A fine-tune job the retrain trigger submitted (control/trigger).
struct RetrainInfo {
  int64_t id = 0;
  std::string model;
  int64_t base_version = 0;
  std::string data_uri, reason, run_dir;
  std::string state = "running";  // running, succeeded, failed
  int exit_code = 0;
  std::optional<int64_t> result_version;  // what the fine-tune registered
  std::string created, finished;
  std::string owner;  // "HOST:PID" of the process that submitted it and records its end
};

struct Decision {
  std::string model;
  int64_t version = 0;
  std::string outcome;  // "promoted", "candidate", "rolled back"
  std::string reason, created;
};

class Registry {
 public:
  // `create`: make the file when missing (a run's registry); false: NotFound (readers).
  static absl::StatusOr<std::unique_ptr<Registry>> Open(const std::string& db_path,
                                                        bool create = true);

  // Adds the next version of `v.model` (the model exists from its first version on).
  // InvalidArgument for an unknown parent.
  absl::StatusOr<VersionInfo> Register(VersionInfo v);
  // Applies the promotion gate to `version` against the current production: promoted (it
  // becomes `production`) or a candidate (it becomes `staging`); the decision is stored.
  // Errors (unknown version, a metric the policy needs missing) change nothing.
  absl::StatusOr<Decision> Evaluate(const std::string& model, int64_t version,
                                    const Policy& policy);
  // An operator's promotion, bypassing the gate.
  absl::StatusOr<Decision> Promote(const std::string& model, int64_t version,
                                   const std::string& reason);
  // Production goes back to the version it was before the last promotion; FailedPrecondition
  // when there is none.
  absl::StatusOr<Decision> Rollback(const std::string& model, const std::string& reason);

  absl::StatusOr<std::vector<std::string>> Models();
  absl::StatusOr<std::vector<VersionInfo>> Versions(const std::string& model);
  absl::StatusOr<VersionInfo> Get(const std::string& model, int64_t version);
  // The version an alias points at (nullopt: unset).
  absl::StatusOr<std::optional<int64_t>> Alias(const std::string& model, const std::string& alias);
  absl::StatusOr<std::vector<Decision>> Decisions(const std::string& model);
  // The checkpoint versions in store `checkpoint_uri` that registered versions point at (of
  // any model): retention keeps them.
  absl::StatusOr<std::set<int64_t>> ReferencedCheckpoints(const std::string& checkpoint_uri);
  // "MODEL@VERSION", "MODEL@production", "MODEL@staging" or "MODEL" (production).
  absl::StatusOr<VersionInfo> Resolve(const std::string& ref);
  // The audit chain, and that every registry change's recorded head is in it unchanged
  // (truncation or a rewritten chain shows there): OK or DataLoss naming the record.
  // With `head`, also the chain's length and last hash (the records are read once).
  absl::Status VerifyAudit(AuditHead* head = nullptr);
  absl::StatusOr<std::vector<AuditRecord>> Audit(int64_t after_id = 0, int64_t limit = 0) {
    return AuditLog(*db_).List(after_id, limit);
  }
  // Appends one record of an event the registry does not make itself (a checkpoint committed,
  // data read, a metric threshold crossed); the head is kept so truncation shows.
  absl::StatusOr<AuditRecord> AppendAudit(const std::string& kind, const nlohmann::json& body);

  // The job JSON stored with a version ("" when it was registered without one).
  absl::StatusOr<std::string> Job(const std::string& model, int64_t version);

  // Datasets registered for a model (retraining data), newest last.
  absl::StatusOr<DatasetInfo> AddDataset(const std::string& model, const std::string& uri,
                                         const std::string& fingerprint);
  absl::StatusOr<std::vector<DatasetInfo>> Datasets(const std::string& model);

  // Retrains: recorded when submitted (id assigned, run dir RUNS_DIR/MODEL-retrain-ID,
  // audited), finished once. FailedPrecondition when one of the model is running (checked in
  // the same transaction: one at a time across processes too).
  absl::StatusOr<RetrainInfo> AddRetrain(RetrainInfo r, const std::string& runs_dir);
  // Every model's retrains still marked running.
  absl::StatusOr<std::vector<RetrainInfo>> RunningRetrains();
  absl::Status FinishRetrain(int64_t id, bool ok, int exit_code,
                             std::optional<int64_t> result_version);
  absl::StatusOr<std::vector<RetrainInfo>> Retrains(const std::string& model);
  const std::string& path() const { return db_->path(); }

 private:
  explicit Registry(std::unique_ptr<Db> db) : db_(std::move(db)) {}
  absl::StatusOr<VersionInfo> GetLocked(const std::string& model, int64_t version);
  absl::Status SetAlias(const std::string& model, const std::string& alias, int64_t version);
  absl::StatusOr<Decision> Record(const std::string& model, int64_t version,
                                  const std::string& outcome, const std::string& reason);

  std::unique_ptr<Db> db_;
};

// Where the embedded control service keeps its registry: control.db, else RUN_DIR/control.db.
std::string RegistryPath(const meshtrain::v1::ControlSpec& control, const std::string& run_dir);

// For checkpoint retention (ckpt::Committer::Protected): the versions of `checkpoint_uri`
// that the registry at `db_path` references, read at each call; none while the file does not
// exist yet.
std::function<absl::StatusOr<std::set<int64_t>>()> ReferencedCheckpoints(
    std::string db_path, std::string checkpoint_uri);

}  // namespace mt::control
