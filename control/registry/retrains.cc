// The registry's records for the retrain loop (see registry.h): version jobs, datasets,
// retrains, and audit records of events the registry does not make itself. Each change is one
// transaction with its audit record, whose head the changed row keeps.
#include "control/registry/registry.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/status.h"

namespace mt::control {
namespace {

using json = nlohmann::json;

constexpr char kRetrainColumns[] =
    "id, model, base_version, data_uri, reason, run_dir, state, exit_code, result_version, "
    "created, finished, owner";

RetrainInfo RetrainFrom(const Stmt& s) {
  RetrainInfo r;
  r.id = s.Int(0);
  r.model = s.Text(1);
  r.base_version = s.Int(2);
  r.data_uri = s.Text(3);
  r.reason = s.Text(4);
  r.run_dir = s.Text(5);
  r.state = s.Text(6);
  r.exit_code = static_cast<int>(s.Int(7));
  if (!s.IsNull(8)) r.result_version = s.Int(8);
  r.created = s.Text(9);
  r.finished = s.Text(10);
  r.owner = s.Text(11);
  return r;
}

}  // namespace

absl::StatusOr<AuditRecord> Registry::AppendAudit(const std::string& kind, const json& body) {
  if (kind.empty()) return absl::InvalidArgumentError("audit record: the kind is empty");
  AuditRecord a;
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_ASSIGN_OR_RETURN(a, AuditLog(*db_).Append(kind, body));
    MT_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare("INSERT INTO audit_heads (audit_id, audit_hash) VALUES (?,?)"));
    return s.Bind(1, a.id).Bind(2, a.hash).Run();
  }));
  return a;
}

absl::StatusOr<std::string> Registry::Job(const std::string& model, int64_t version) {
  MT_RETURN_IF_ERROR(GetLocked(model, version).status());
  MT_ASSIGN_OR_RETURN(Stmt s,
                      db_->Prepare("SELECT job FROM version_jobs WHERE model = ? AND version = ?"));
  s.Bind(1, model).Bind(2, version);
  MT_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Text(0) : std::string();
}

absl::StatusOr<DatasetInfo> Registry::AddDataset(const std::string& model, const std::string& uri,
                                                 const std::string& fingerprint) {
  if (model.empty() || uri.empty()) {
    return absl::InvalidArgumentError("register dataset: the model and the URI are required");
  }
  DatasetInfo d{0, model, uri, fingerprint, NowUtc()};
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_ASSIGN_OR_RETURN(
        AuditRecord a,
        AuditLog(*db_).Append("dataset registered",
                              {{"model", model}, {"uri", uri}, {"fingerprint", fingerprint}}));
    MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO datasets (model, uri, fingerprint, "
                                             "created, audit_id, audit_hash) VALUES "
                                             "(?,?,?,?,?,?)"));
    MT_RETURN_IF_ERROR(s.Bind(1, model)
                           .Bind(2, uri)
                           .Bind(3, fingerprint)
                           .Bind(4, d.created)
                           .Bind(5, a.id)
                           .Bind(6, a.hash)
                           .Run());
    MT_ASSIGN_OR_RETURN(Stmt id, db_->Prepare("SELECT last_insert_rowid()"));
    MT_RETURN_IF_ERROR(id.Step().status());
    d.id = id.Int(0);
    return absl::OkStatus();
  }));
  return d;
}

absl::StatusOr<std::vector<DatasetInfo>> Registry::Datasets(const std::string& model) {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT id, model, uri, fingerprint, created FROM "
                                           "datasets WHERE model = ? ORDER BY id"));
  s.Bind(1, model);
  std::vector<DatasetInfo> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) {
    out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4)});
  }));
  return out;
}

absl::StatusOr<RetrainInfo> Registry::AddRetrain(RetrainInfo r, const std::string& runs_dir) {
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_RETURN_IF_ERROR(GetLocked(r.model, r.base_version).status());
    MT_ASSIGN_OR_RETURN(Stmt busy, db_->Prepare("SELECT id FROM retrains WHERE model = ? AND "
                                                "state = 'running'"));
    busy.Bind(1, r.model);
    MT_ASSIGN_OR_RETURN(bool running, busy.Step());
    if (running) {
      return absl::FailedPreconditionError(
          fmt::format("retrain {} of {} is still running", busy.Int(0), r.model));
    }
    r.state = "running";
    r.created = NowUtc();
    MT_ASSIGN_OR_RETURN(Stmt next, db_->Prepare("SELECT COALESCE(MAX(id), 0) + 1 FROM retrains"));
    MT_RETURN_IF_ERROR(next.Step().status());
    r.id = next.Int(0);
    r.run_dir = fmt::format("{}/{}-retrain-{}", runs_dir, r.model, r.id);
    MT_ASSIGN_OR_RETURN(
        AuditRecord a, AuditLog(*db_).Append("retrain submitted", {{"id", r.id},
                                                                   {"model", r.model},
                                                                   {"base_version", r.base_version},
                                                                   {"data_uri", r.data_uri},
                                                                   {"reason", r.reason},
                                                                   {"run_dir", r.run_dir}}));
    MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare(fmt::format("INSERT INTO retrains ({}, audit_id, "
                                                         "audit_hash) VALUES "
                                                         "(?,?,?,?,?,?,?,?,NULL,?,'',?,?,?)",
                                                         kRetrainColumns)));
    return s.Bind(1, r.id)
        .Bind(2, r.model)
        .Bind(3, r.base_version)
        .Bind(4, r.data_uri)
        .Bind(5, r.reason)
        .Bind(6, r.run_dir)
        .Bind(7, r.state)
        .Bind(8, int64_t{0})
        .Bind(9, r.created)
        .Bind(10, r.owner)
        .Bind(11, a.id)
        .Bind(12, a.hash)
        .Run();
  }));
  return r;
}

absl::Status Registry::FinishRetrain(int64_t id, bool ok, int exit_code,
                                     std::optional<int64_t> result_version) {
  return db_->Transaction([&]() -> absl::Status {
    MT_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT model, state FROM retrains WHERE id = ?"));
    q.Bind(1, id);
    MT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::NotFoundError(fmt::format("{}: no retrain {}", path(), id));
    if (q.Text(1) != "running") {
      return absl::FailedPreconditionError(
          fmt::format("retrain {} already finished ({})", id, q.Text(1)));
    }
    json body = {{"id", id}, {"model", q.Text(0)}, {"ok", ok}, {"exit_code", exit_code}};
    if (result_version) body["result_version"] = *result_version;
    MT_ASSIGN_OR_RETURN(AuditRecord a, AuditLog(*db_).Append("retrain finished", body));
    MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE retrains SET state = ?, exit_code = ?, "
                                             "result_version = ?, finished = ?, audit_id = ?, "
                                             "audit_hash = ? WHERE id = ?"));
    s.Bind(1, std::string(ok ? "succeeded" : "failed")).Bind(2, int64_t{exit_code});
    if (result_version) {
      s.Bind(3, *result_version);
    } else {
      s.BindNull(3);
    }
    return s.Bind(4, NowUtc()).Bind(5, a.id).Bind(6, a.hash).Bind(7, id).Run();
  });
}

absl::StatusOr<std::vector<RetrainInfo>> Registry::RunningRetrains() {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare(fmt::format("SELECT {} FROM retrains WHERE state = "
                                                       "'running' ORDER BY id",
                                                       kRetrainColumns)));
  std::vector<RetrainInfo> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) { out.push_back(RetrainFrom(r)); }));
  return out;
}

absl::StatusOr<std::vector<RetrainInfo>> Registry::Retrains(const std::string& model) {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare(fmt::format("SELECT {} FROM retrains WHERE model = ? "
                                                       "ORDER BY id",
                                                       kRetrainColumns)));
  s.Bind(1, model);
  std::vector<RetrainInfo> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) { out.push_back(RetrainFrom(r)); }));
  return out;
}

}  // namespace mt::control
