// BlobStore: the object storage every dataset, checkpoint and registry file goes through
// (DESIGN §3 "Data"). Paths are '/'-separated names relative to the store's root (the URI's
// prefix); they never start with '/' and never contain "..".
//
// Schemes: file://PATH (or a plain path; the embedded default) and az://ACCOUNT/CONTAINER/PREFIX
// (Azure Blob REST over libcurl, azure_store.h). Blocking; safe to call from many threads.
// Failures are Status: NotFound (no such blob), AlreadyExists (PutIfAbsent lost),
// PermissionDenied (403), Unauthenticated (bad credentials), OutOfRange (a range past the end),
// Unavailable (after retries); messages name the URI and never contain a key or a signature.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::storage {

struct BlobInfo {
  std::string path;  // relative to the store's root
  int64_t size = 0;
};

// An exclusive hold on a store (or a run directory) by one live process, for as long as the
// object lives (see BlobStore::TakeHold).
class Hold {
 public:
  virtual ~Hold() = default;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Bytes [offset, offset + length) of a blob; length < 0: to the end. A range that starts
  // at or past the end (offset > 0) is OutOfRange, as Azure answers 416; one that runs past
  // the end returns what exists.
  virtual absl::StatusOr<std::string> Get(const std::string& path, int64_t offset = 0,
                                          int64_t length = -1) = 0;
  // Creates or replaces a blob, atomically: readers see the old or the new content, never a
  // mix (large blobs go up as staged blocks committed at the end).
  virtual absl::Status Put(const std::string& path, std::string_view data) = 0;
  // Creates the blob only if it does not exist (AlreadyExists otherwise): commit markers,
  // manifests.
  virtual absl::Status PutIfAbsent(const std::string& path, std::string_view data) = 0;
  // Every blob whose path starts with `prefix`, in lexicographic order (pages internally).
  virtual absl::StatusOr<std::vector<BlobInfo>> List(const std::string& prefix) = 0;
  virtual absl::StatusOr<BlobInfo> Stat(const std::string& path) = 0;
  // Removes a blob; NotFound when there is none.
  virtual absl::Status Delete(const std::string& path) = 0;
  // The file that holds `path` when the store is a directory on a local or mounted file
  // system, so a large writer (HDF5) can write it in place instead of through memory;
  // nullopt for remote stores.
  virtual std::optional<std::string> LocalPath(const std::string& path) const {
    (void)path;
    return std::nullopt;
  }
  // OK when the store exists: the directory (file://), or the container with at least one blob
  // under the prefix (az://, where a prefix exists only while something is in it). NotFound
  // naming the URI otherwise. Commands that only read call it first, so a typo fails instead
  // of reading as an empty store.
  virtual absl::Status CheckExists() = 0;
  // Takes the blob `path` as an exclusive hold, its content set to `holder` (who, where,
  // since). When another live process holds it: FailedPrecondition naming the URI and that
  // holder's text. A holder that died is taken over: file:// holds flock(2) on the file (the
  // kernel releases it when the holder exits, however it exits); az:// holds a blob lease of
  // AzureOptions::lease_s seconds, renewed in the background (it lapses that long after its
  // holder died).
  virtual absl::StatusOr<std::unique_ptr<Hold>> TakeHold(const std::string& path,
                                                         const std::string& holder) = 0;
  // The URI this store was opened with (credentials never appear in it).
  virtual const std::string& uri() const = 0;
};

// Opens the store a URI names: file://PATH, a plain path, or az://ACCOUNT/CONTAINER[/PREFIX]
// (credentials from the environment, see azure_store.h). InvalidArgument for an unknown
// scheme or a malformed URI, naming it.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& uri);

// A directory on a local (or shared) file system.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileStore(const std::string& root);

// Checks a relative blob path (no leading '/', no "..", not empty); InvalidArgument otherwise.
absl::Status CheckPath(const std::string& path);

}  // namespace mt::storage
