// The control service's audit log (DESIGN §3): append-only records in the registry database,
// each holding the SHA-256 of the one before, so editing, deleting or reordering any record
// breaks the chain from there on. Records: versions registered, promotions, rollbacks,
// decisions, checkpoint commits, data read, triggers (kind + a JSON body).
//
//   hash(n) = SHA-256(hash(n-1) "\n" id "\n" kind "\n" created "\n" body), hash(0) = 64 zeros
//
// Truncating the tail cannot be seen from the chain alone, so every registry change stores the
// head (id, hash) it appended; Registry::VerifyAudit checks those too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/registry/sqlite_db.h"
#include "nlohmann/json.hpp"

namespace mt::control {

struct AuditRecord {
  int64_t id = 0;
  std::string kind, created, body, prev, hash;
};

// The audit chain as verified: how many records, and the last one's hash.
struct AuditHead {
  int64_t records = 0;
  std::string hash;
};

// Hex SHA-256 of a record given the previous record's hash.
std::string AuditHash(const std::string& prev, int64_t id, const std::string& kind,
                      const std::string& created, const std::string& body);

class AuditLog {
 public:
  explicit AuditLog(Db& db) : db_(db) {}
  static absl::Status CreateSchema(Db& db);
  // Appends one record (call inside the caller's transaction, so it lands with the change it
  // describes); returns it, its hash being the new head.
  absl::StatusOr<AuditRecord> Append(const std::string& kind, const nlohmann::json& body);
  // Replays the chain from the first record: OK, or DataLoss naming the first record whose
  // hash or link does not hold (and what was wrong).
  absl::Status Verify();
  // The same over records already read (List(), in id order).
  absl::Status Verify(const std::vector<AuditRecord>& records);
  // Records with id > after_id, in order; at most `limit` of them (0: all).
  absl::StatusOr<std::vector<AuditRecord>> List(int64_t after_id = 0, int64_t limit = 0);

 private:
  Db& db_;
};

// Now as ISO 8601 UTC with milliseconds ("2026-11-29T08:00:00.123Z").
std::string NowUtc();

}  // namespace mt::control
