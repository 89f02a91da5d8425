// Store: the small key-value service ranks use to find each other (DESIGN §3). Backends
// bootstrap only through it (Gloo's rendezvous, NCCL's unique id); the coordinator serves the
// production one over gRPC. Keys are opaque strings, values are bytes.
//
// Thread safety: every implementation is safe to call from many threads (and, for FileStore,
// many processes). Blocking calls take a timeout and fail with DeadlineExceeded naming the
// keys still missing.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::comm {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultStoreTimeout{std::chrono::seconds(60)};

class Store {
 public:
  virtual ~Store() = default;
  // Sets (or replaces) a value. Never blocks on other ranks.
  virtual absl::Status Set(const std::string& key, const std::string& value) = 0;
  // Blocks until `key` exists (or timeout), then returns its value.
  virtual absl::StatusOr<std::string> Get(const std::string& key, Millis timeout) = 0;
  // Blocks until every key exists.
  virtual absl::Status Wait(const std::vector<std::string>& keys, Millis timeout) = 0;
  // Atomically adds `delta` to the integer at key (absent = 0) and returns the new value.
  virtual absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) = 0;
  // Atomically: if the value equals `expected` (absent counts as ""), set it to `desired`.
  // Returns the value after the operation (desired on success, the current value otherwise).
  virtual absl::StatusOr<std::string> CompareSet(const std::string& key,
                                                 const std::string& expected,
                                                 const std::string& desired) = 0;
};

// Add's arithmetic, shared by the implementations: the integer stored at `key` (`current`,
// null when absent = 0) plus `delta`; FailedPrecondition naming the key for a non-integer.
absl::StatusOr<int64_t> AddToStored(const std::string* current, const std::string& key,
                                    int64_t delta);

// In-process store for tests and single-process runs.
std::shared_ptr<Store> MakeMemoryStore();

// A store in a shared directory (one file per key, atomic rename; Add/CompareSet under an
// flock). Works across processes on one machine or a shared filesystem.
absl::StatusOr<std::shared_ptr<Store>> MakeFileStore(const std::string& dir);

// Namespaces every key as "<prefix>/<key>" (generations, sub-groups).
std::shared_ptr<Store> MakePrefixStore(std::string prefix, std::shared_ptr<Store> base);

}  // namespace mt::comm
