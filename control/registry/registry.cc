// Model registry (see registry.h).
#include "control/registry/registry.h"

#include <filesystem>

#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/status.h"

namespace mt::control {
namespace {

using json = nlohmann::json;

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS versions (model TEXT NOT NULL, version INTEGER NOT NULL, "
    "checkpoint_uri TEXT NOT NULL, checkpoint_version INTEGER NOT NULL, metrics TEXT NOT NULL, "
    "parent INTEGER, data_fingerprint TEXT NOT NULL, job_hash TEXT NOT NULL, created TEXT NOT "
    "NULL, audit_id INTEGER NOT NULL, audit_hash TEXT NOT NULL, PRIMARY KEY (model, version));"
    "CREATE TABLE IF NOT EXISTS aliases (model TEXT NOT NULL, alias TEXT NOT NULL, version "
    "INTEGER NOT NULL, PRIMARY KEY (model, alias), FOREIGN KEY (model, version) REFERENCES "
    "versions (model, version));"
    "CREATE TABLE IF NOT EXISTS production_history (model TEXT NOT NULL, seq INTEGER NOT NULL, "
    "version INTEGER NOT NULL, PRIMARY KEY (model, seq));"
    "CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY, model TEXT NOT NULL, version "
    "INTEGER NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL, created TEXT NOT NULL, "
    "audit_id INTEGER NOT NULL, audit_hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS version_jobs (model TEXT NOT NULL, version INTEGER NOT NULL, "
    "job TEXT NOT NULL, PRIMARY KEY (model, version));"
    "CREATE TABLE IF NOT EXISTS datasets (id INTEGER PRIMARY KEY, model TEXT NOT NULL, uri TEXT "
    "NOT NULL, fingerprint TEXT NOT NULL, created TEXT NOT NULL, audit_id INTEGER NOT NULL, "
    "audit_hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS retrains (id INTEGER PRIMARY KEY, model TEXT NOT NULL, "
    "base_version INTEGER NOT NULL, data_uri TEXT NOT NULL, reason TEXT NOT NULL, run_dir TEXT "
    "NOT NULL, state TEXT NOT NULL, exit_code INTEGER NOT NULL, result_version INTEGER, created "
    "TEXT NOT NULL, finished TEXT NOT NULL, owner TEXT NOT NULL, audit_id INTEGER NOT NULL, "
    "audit_hash TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit_heads (audit_id INTEGER NOT NULL, audit_hash TEXT NOT "
    "NULL);";

constexpr char kVersionColumns[] =
    "model, version, checkpoint_uri, checkpoint_version, metrics, parent, data_fingerprint, "
    "job_hash, created";

VersionInfo VersionFrom(const Stmt& s) {
  VersionInfo v;
  v.model = s.Text(0);
  v.version = s.Int(1);
  v.checkpoint_uri = s.Text(2);
  v.checkpoint_version = s.Int(3);
  const json metrics = json::parse(s.Text(4));  // (kept: items() refers into it)
  for (const auto& [k, val] : metrics.items()) v.metrics[k] = val.get<double>();
  if (!s.IsNull(5)) v.parent = s.Int(5);
  v.data_fingerprint = s.Text(6);
  v.job_hash = s.Text(7);
  v.created = s.Text(8);
  return v;
}

json VersionJson(const VersionInfo& v) {
  json j = {{"model", v.model},
            {"version", v.version},
            {"checkpoint_uri", v.checkpoint_uri},
            {"checkpoint_version", v.checkpoint_version},
            {"metrics", v.metrics},
            {"data_fingerprint", v.data_fingerprint},
            {"job_hash", v.job_hash}};
  if (v.parent) j["parent"] = *v.parent;
  return j;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> Registry::Open(const std::string& db_path, bool create) {
  MT_ASSIGN_OR_RETURN(auto db, Db::Open(db_path, create));
  MT_RETURN_IF_ERROR(db->Transaction([&]() -> absl::Status {
    MT_RETURN_IF_ERROR(db->Exec(kSchema));
    return AuditLog::CreateSchema(*db);
  }));
  return std::unique_ptr<Registry>(new Registry(std::move(db)));
}

absl::StatusOr<VersionInfo> Registry::GetLocked(const std::string& model, int64_t version) {
  MT_ASSIGN_OR_RETURN(
      Stmt s, db_->Prepare(fmt::format("SELECT {} FROM versions WHERE model = ? AND version = ?",
                                       kVersionColumns)));
  s.Bind(1, model).Bind(2, version);
  MT_ASSIGN_OR_RETURN(bool row, s.Step());
  if (row) return VersionFrom(s);
  MT_ASSIGN_OR_RETURN(Stmt n, db_->Prepare("SELECT MAX(version) FROM versions WHERE model = ?"));
  n.Bind(1, model);
  MT_ASSIGN_OR_RETURN(bool any, n.Step());
  if (!any || n.IsNull(0)) {
    return absl::NotFoundError(fmt::format("{}: no model '{}' in the registry", path(), model));
  }
  return absl::NotFoundError(fmt::format("{}: model '{}' has no version {} (it has 1-{})", path(),
                                         model, version, n.Int(0)));
}

absl::StatusOr<VersionInfo> Registry::Get(const std::string& model, int64_t version) {
  return GetLocked(model, version);
}

absl::StatusOr<VersionInfo> Registry::Register(VersionInfo v) {
  if (v.model.empty()) return absl::InvalidArgumentError("register: the model name is empty");
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_ASSIGN_OR_RETURN(Stmt n, db_->Prepare("SELECT MAX(version) FROM versions WHERE model = ?"));
    n.Bind(1, v.model);
    MT_ASSIGN_OR_RETURN(bool row, n.Step());
    v.version = row && !n.IsNull(0) ? n.Int(0) + 1 : 1;
    if (v.parent) {
      auto parent = GetLocked(v.model, *v.parent);
      if (!parent.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("register: parent {}", std::string(parent.status().message())));
      }
    }
    v.created = NowUtc();
    MT_ASSIGN_OR_RETURN(AuditRecord a, AuditLog(*db_).Append("version registered", VersionJson(v)));
    MT_ASSIGN_OR_RETURN(Stmt ins,
                        db_->Prepare(fmt::format("INSERT INTO versions ({}, audit_id, audit_hash) "
                                                 "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                                                 kVersionColumns)));
    ins.Bind(1, v.model).Bind(2, v.version).Bind(3, v.checkpoint_uri).Bind(4, v.checkpoint_version);
    ins.Bind(5, json(v.metrics).dump());
    if (v.parent) {
      ins.Bind(6, *v.parent);
    } else {
      ins.BindNull(6);
    }
    ins.Bind(7, v.data_fingerprint).Bind(8, v.job_hash).Bind(9, v.created).Bind(10, a.id);
    ins.Bind(11, a.hash);
    MT_RETURN_IF_ERROR(ins.Run());
    if (v.job_json.empty()) return absl::OkStatus();
    MT_ASSIGN_OR_RETURN(Stmt job, db_->Prepare("INSERT INTO version_jobs (model, version, job) "
                                               "VALUES (?,?,?)"));
    return job.Bind(1, v.model).Bind(2, v.version).Bind(3, v.job_json).Run();
  }));
  return v;
}

absl::Status Registry::SetAlias(const std::string& model, const std::string& alias,
                                int64_t version) {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO aliases (model, alias, version) VALUES "
                                           "(?,?,?) ON CONFLICT (model, alias) DO UPDATE SET "
                                           "version = excluded.version"));
  return s.Bind(1, model).Bind(2, alias).Bind(3, version).Run();
}

absl::StatusOr<Decision> Registry::Record(const std::string& model, int64_t version,
                                          const std::string& outcome, const std::string& reason) {
  Decision d{model, version, outcome, reason, NowUtc()};
  MT_ASSIGN_OR_RETURN(
      AuditRecord a,
      AuditLog(*db_).Append(outcome, {{"model", model}, {"version", version}, {"reason", reason}}));
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO decisions (model, version, outcome, "
                                           "reason, created, audit_id, audit_hash) VALUES "
                                           "(?,?,?,?,?,?,?)"));
  MT_RETURN_IF_ERROR(s.Bind(1, model)
                         .Bind(2, version)
                         .Bind(3, outcome)
                         .Bind(4, reason)
                         .Bind(5, d.created)
                         .Bind(6, a.id)
                         .Bind(7, a.hash)
                         .Run());
  if (outcome == "promoted") {
    MT_RETURN_IF_ERROR(SetAlias(model, "production", version));
    MT_ASSIGN_OR_RETURN(Stmt h, db_->Prepare("INSERT INTO production_history (model, seq, version) "
                                             "SELECT ?, COALESCE(MAX(seq), 0) + 1, ? FROM "
                                             "production_history WHERE model = ?"));
    MT_RETURN_IF_ERROR(h.Bind(1, model).Bind(2, version).Bind(3, model).Run());
  } else if (outcome == "candidate") {
    MT_RETURN_IF_ERROR(SetAlias(model, "staging", version));
  }
  return d;
}

absl::StatusOr<Decision> Registry::Evaluate(const std::string& model, int64_t version,
                                            const Policy& policy) {
  Decision d;
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_ASSIGN_OR_RETURN(VersionInfo v, GetLocked(model, version));
    MT_ASSIGN_OR_RETURN(std::optional<int64_t> prod, Alias(model, "production"));
    std::optional<VersionInfo> current;
    if (prod) {
      MT_ASSIGN_OR_RETURN(current, GetLocked(model, *prod));
    }
    MT_ASSIGN_OR_RETURN(Verdict verdict, Judge(policy, version, v.metrics, prod,
                                               current ? &current->metrics : nullptr));
    MT_ASSIGN_OR_RETURN(
        d, Record(model, version, verdict.promote ? "promoted" : "candidate", verdict.reason));
    return absl::OkStatus();
  }));
  return d;
}

absl::StatusOr<Decision> Registry::Promote(const std::string& model, int64_t version,
                                           const std::string& reason) {
  Decision d;
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_RETURN_IF_ERROR(GetLocked(model, version).status());
    MT_ASSIGN_OR_RETURN(
        d, Record(model, version, "promoted", reason.empty() ? "promoted by an operator" : reason));
    return absl::OkStatus();
  }));
  return d;
}

absl::StatusOr<Decision> Registry::Rollback(const std::string& model, const std::string& reason) {
  Decision d;
  MT_RETURN_IF_ERROR(db_->Transaction([&]() -> absl::Status {
    MT_ASSIGN_OR_RETURN(Stmt h, db_->Prepare("SELECT seq, version FROM production_history WHERE "
                                             "model = ? ORDER BY seq DESC LIMIT 2"));
    h.Bind(1, model);
    std::vector<std::pair<int64_t, int64_t>> top;
    MT_RETURN_IF_ERROR(h.Each([&](const Stmt& r) { top.emplace_back(r.Int(0), r.Int(1)); }));
    if (top.size() < 2) {
      return absl::FailedPreconditionError(fmt::format(
          "rollback: model '{}' has no earlier production version to go back to", model));
    }
    MT_ASSIGN_OR_RETURN(Stmt pop, db_->Prepare("DELETE FROM production_history WHERE model = ? "
                                               "AND seq = ?"));
    MT_RETURN_IF_ERROR(pop.Bind(1, model).Bind(2, top[0].first).Run());
    MT_RETURN_IF_ERROR(SetAlias(model, "production", top[1].second));
    MT_ASSIGN_OR_RETURN(d, Record(model, top[1].second, "rolled back",
                                  fmt::format("production v{} -> v{}{}", top[0].second,
                                              top[1].second, reason.empty() ? "" : ": " + reason)));
    return absl::OkStatus();
  }));
  return d;
}

absl::StatusOr<std::vector<std::string>> Registry::Models() {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT DISTINCT model FROM versions ORDER BY model"));
  std::vector<std::string> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) { out.push_back(r.Text(0)); }));
  return out;
}

absl::StatusOr<std::vector<VersionInfo>> Registry::Versions(const std::string& model) {
  MT_ASSIGN_OR_RETURN(
      Stmt s, db_->Prepare(fmt::format("SELECT {} FROM versions WHERE model = ? ORDER BY version",
                                       kVersionColumns)));
  s.Bind(1, model);
  std::vector<VersionInfo> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) { out.push_back(VersionFrom(r)); }));
  return out;
}

absl::StatusOr<std::optional<int64_t>> Registry::Alias(const std::string& model,
                                                       const std::string& alias) {
  MT_ASSIGN_OR_RETURN(Stmt s,
                      db_->Prepare("SELECT version FROM aliases WHERE model = ? AND alias = ?"));
  s.Bind(1, model).Bind(2, alias);
  MT_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(s.Int(0));
}

absl::StatusOr<std::vector<Decision>> Registry::Decisions(const std::string& model) {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT model, version, outcome, reason, created FROM "
                                           "decisions WHERE model = ? ORDER BY id"));
  s.Bind(1, model);
  std::vector<Decision> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) {
    out.push_back({r.Text(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4)});
  }));
  return out;
}

absl::StatusOr<VersionInfo> Registry::Resolve(const std::string& ref) {
  const size_t at = ref.find('@');
  const std::string model = ref.substr(0, at);
  const std::string which = at == std::string::npos ? "production" : ref.substr(at + 1);
  int64_t version = 0;
  if (!absl::SimpleAtoi(which, &version)) {
    if (which != "production" && which != "staging") {
      return absl::InvalidArgumentError(fmt::format(
          "'{}': expected MODEL, MODEL@VERSION, MODEL@production or MODEL@staging", ref));
    }
    MT_ASSIGN_OR_RETURN(std::optional<int64_t> v, Alias(model, which));
    if (!v)
      return absl::NotFoundError(
          fmt::format("{}: model '{}' has no {} version", path(), model, which));
    version = *v;
  }
  return GetLocked(model, version);
}

absl::StatusOr<std::set<int64_t>> Registry::ReferencedCheckpoints(
    const std::string& checkpoint_uri) {
  MT_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT DISTINCT checkpoint_version FROM versions "
                                           "WHERE checkpoint_uri = ?"));
  s.Bind(1, checkpoint_uri);
  std::set<int64_t> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) { out.insert(r.Int(0)); }));
  return out;
}

std::string RegistryPath(const meshtrain::v1::ControlSpec& control, const std::string& run_dir) {
  return control.db().empty() ? run_dir + "/control.db" : control.db();
}

std::function<absl::StatusOr<std::set<int64_t>>()> ReferencedCheckpoints(
    std::string db_path, std::string checkpoint_uri) {
  return [db_path, checkpoint_uri]() -> absl::StatusOr<std::set<int64_t>> {
    std::error_code ec;
    if (!std::filesystem::exists(db_path, ec)) return std::set<int64_t>();
    MT_ASSIGN_OR_RETURN(auto registry, Registry::Open(db_path));
    return registry->ReferencedCheckpoints(checkpoint_uri);
  };
}

absl::Status Registry::VerifyAudit(AuditHead* head) {
  AuditLog log(*db_);
  MT_ASSIGN_OR_RETURN(std::vector<AuditRecord> records, log.List());
  MT_RETURN_IF_ERROR(log.Verify(records));
  std::map<int64_t, std::string> hashes;
  for (const AuditRecord& r : records) hashes[r.id] = r.hash;
  // Every table whose rows recorded the audit head they appended: (table, what a row is).
  constexpr std::pair<const char*, const char*> kHeads[] = {
      {"versions", "model || ' v' || version"},
      {"decisions", "model || ' v' || version || ' ' || outcome"},
      {"datasets", "'dataset ' || uri"},
      {"retrains", "'retrain ' || id"},
      {"audit_heads", "'appended record'"}};
  for (const auto& [table, label] : kHeads) {
    MT_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare(fmt::format("SELECT {}, audit_id, audit_hash FROM {}", label, table)));
    while (true) {
      MT_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      auto it = hashes.find(s.Int(1));
      if (it == hashes.end() || it->second != s.Text(2)) {
        return absl::DataLossError(fmt::format(
            "{}: {} entry for {} refers to audit record {}, which is {} (the audit log was "
            "truncated or rewritten)",
            path(), table, s.Text(0), s.Int(1),
            it == hashes.end() ? "missing" : "not the record it was"));
      }
    }
  }
  if (head != nullptr) {
    *head = {static_cast<int64_t>(records.size()), records.empty() ? "" : records.back().hash};
  }
  return absl::OkStatus();
}

}  // namespace mt::control
