// SQLite wrapper (see sqlite_db.h).
#include "control/registry/sqlite_db.h"

#include <sqlite3.h>
#include <unistd.h>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::control {

Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}
Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

absl::StatusOr<bool> Stmt::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(fmt::format("statement '{}'", sqlite3_sql(s_)));
}

absl::Status Stmt::Run() {
  while (true) {
    MT_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

absl::Status Stmt::Each(const std::function<void(const Stmt&)>& row) {
  while (true) {
    MT_ASSIGN_OR_RETURN(bool more, Step());
    if (!more) return absl::OkStatus();
    row(*this);
  }
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(s_, col); }
double Stmt::Double(int col) const { return sqlite3_column_double(s_, col); }
std::string Stmt::Text(int col) const {
  const auto* t = sqlite3_column_text(s_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, col)) : "";
}
bool Stmt::IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path, bool create) {
  if (!create && ::access(path.c_str(), F_OK) != 0) {
    return absl::NotFoundError(fmt::format("{}: no such registry file", path));
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Db> db(new Db(raw, path));
  if (rc != SQLITE_OK) return db->Error("opening");
  sqlite3_busy_timeout(raw, 30000);
  MT_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"));
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

absl::Status Db::Error(const std::string& what) const {
  return absl::InternalError(
      fmt::format("{}: {}: {}", path_, what, db_ ? sqlite3_errmsg(db_) : "cannot open"));
}

absl::Status Db::Exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    absl::Status s = absl::InternalError(
        fmt::format("{}: {}: {}", path_, sql.substr(0, 60), message ? message : "failed"));
    sqlite3_free(message);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    return Error(fmt::format("preparing '{}'", sql));
  }
  return Stmt(this, s);
}

absl::Status Db::Transaction(const std::function<absl::Status()>& body) {
  MT_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status s = body();
  if (!s.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return s;
  }
  if (absl::Status c = Exec("COMMIT"); !c.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return c;
  }
  return absl::OkStatus();
}

}  // namespace mt::control
