// Audit log (see audit_log.h).
#include "control/registry/audit_log.h"

#include <openssl/evp.h>

#include <chrono>
#include <ctime>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::control {
namespace {

constexpr char kGenesis[] = "0000000000000000000000000000000000000000000000000000000000000000";

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace

std::string NowUtc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms));
}

std::string AuditHash(const std::string& prev, int64_t id, const std::string& kind,
                      const std::string& created, const std::string& body) {
  return Sha256Hex(fmt::format("{}\n{}\n{}\n{}\n{}", prev, id, kind, created, body));
}

absl::Status AuditLog::CreateSchema(Db& db) {
  return db.Exec(
      "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
      "created TEXT NOT NULL, body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)");
}

absl::StatusOr<AuditRecord> AuditLog::Append(const std::string& kind, const nlohmann::json& body) {
  AuditRecord r;
  r.prev = kGenesis;
  r.id = 1;
  {
    MT_ASSIGN_OR_RETURN(Stmt last,
                        db_.Prepare("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1"));
    MT_ASSIGN_OR_RETURN(bool row, last.Step());
    if (row) {
      r.id = last.Int(0) + 1;
      r.prev = last.Text(1);
    }
  }
  r.kind = kind;
  r.created = NowUtc();
  r.body = body.dump();
  r.hash = AuditHash(r.prev, r.id, r.kind, r.created, r.body);
  MT_ASSIGN_OR_RETURN(
      Stmt insert,
      db_.Prepare("INSERT INTO audit (id, kind, created, body, prev, hash) VALUES (?,?,?,?,?,?)"));
  MT_RETURN_IF_ERROR(insert.Bind(1, r.id)
                         .Bind(2, r.kind)
                         .Bind(3, r.created)
                         .Bind(4, r.body)
                         .Bind(5, r.prev)
                         .Bind(6, r.hash)
                         .Run());
  return r;
}

absl::StatusOr<std::vector<AuditRecord>> AuditLog::List(int64_t after_id, int64_t limit) {
  MT_ASSIGN_OR_RETURN(Stmt s, db_.Prepare("SELECT id, kind, created, body, prev, hash FROM audit "
                                          "WHERE id > ? ORDER BY id LIMIT ?"));
  s.Bind(1, after_id).Bind(2, limit > 0 ? limit : int64_t{-1});
  std::vector<AuditRecord> out;
  MT_RETURN_IF_ERROR(s.Each([&](const Stmt& r) {
    out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5)});
  }));
  return out;
}

absl::Status AuditLog::Verify() {
  MT_ASSIGN_OR_RETURN(std::vector<AuditRecord> records, List());
  return Verify(records);
}

absl::Status AuditLog::Verify(const std::vector<AuditRecord>& records) {
  std::string prev = kGenesis;
  int64_t expect = 1;
  for (const AuditRecord& r : records) {
    std::string why;
    if (r.id != expect) {
      why = fmt::format("id {} where {} was expected (a record is missing)", r.id, expect);
    } else if (r.prev != prev) {
      why = "its link to the previous record does not match that record's hash";
    } else if (AuditHash(r.prev, r.id, r.kind, r.created, r.body) != r.hash) {
      why = "its contents do not match its hash (the record was edited)";
    }
    if (!why.empty()) {
      return absl::DataLossError(fmt::format("{}: audit record {} ({}, {}): {}", db_.path(), r.id,
                                             r.kind, r.created, why));
    }
    prev = r.hash;
    ++expect;
  }
  return absl::OkStatus();
}

}  // namespace mt::control
