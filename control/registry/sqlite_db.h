// A SQLite database as the control service uses it: WAL journal (readers never block the
// writer), a busy timeout so concurrent writers (other processes, other connections) queue
// instead of failing, and BEGIN IMMEDIATE transactions so a read-modify-write cannot
// interleave with another writer's. One Db per thread (a connection is not shared).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mt::control {

class Db;

// A prepared statement; binds are 1-based, columns 0-based (as SQLite's).
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  ~Stmt();
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& BindNull(int i);
  // Next row: true; done: false.
  absl::StatusOr<bool> Step();
  absl::Status Run();  // steps to completion
  // Steps to completion, calling `row` on each result row.
  absl::Status Each(const std::function<void(const Stmt&)>& row);
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;

 private:
  friend class Db;
  Stmt(Db* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Db* db_;
  sqlite3_stmt* s_;
};

class Db {
 public:
  // Creates the file if needed. Errors name the file.
  // `create`: make the file when missing; else a missing file is NotFound naming it (readers
  // never create a registry where a typo points).
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path, bool create = true);
  ~Db();
  absl::Status Exec(const std::string& sql);
  absl::StatusOr<Stmt> Prepare(const std::string& sql);
  // BEGIN IMMEDIATE; body; COMMIT (ROLLBACK when body fails: nothing it wrote stays).
  absl::Status Transaction(const std::function<absl::Status()>& body);
  const std::string& path() const { return path_; }
  // The last error of this connection, naming the file.
  absl::Status Error(const std::string& what) const;

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace mt::control
