// The versioned checkpoint store over any BlobStore (file:// or az://), DESIGN §3.
//
// Layout under the store's root:
//   versions/<N>/rank-<RRRRR>.h5   a rank's shard (checkpoint/format/shard.h)
//   versions/<N>/manifest.json     written last, create-if-absent: the version exists from here
//   LATEST                         "<N>\n", moved after the manifest
// Version numbers only grow: a new save numbers above everything ever written (Highest()),
// so an abandoned partial save is never reused. Shards are written whole (a file store writes
// temp + fsync + rename + directory fsync; az:// commits staged blocks), so a reader sees a
// complete file or none. Thread-safe as far as the BlobStore is.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/format/shard.h"
#include "checkpoint/store/manifest.h"
#include "runtime/storage/blob_store.h"

namespace mt::ckpt {

std::string VersionDir(int64_t version);  // "versions/12"
std::string ShardFileName(int64_t rank);  // "rank-00003.h5"

// A whole tensor assembled from the slices of a version.
struct FullTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class CheckpointStore {
 public:
  static absl::StatusOr<std::shared_ptr<CheckpointStore>> Open(const std::string& uri);
  explicit CheckpointStore(std::shared_ptr<storage::BlobStore> blobs) : blobs_(std::move(blobs)) {}
  const std::string& uri() const { return blobs_->uri(); }

  // Versions that have a manifest, ascending.
  absl::StatusOr<std::vector<int64_t>> Committed();
  // The highest version number anything was written under (committed or not); 0 when none.
  absl::StatusOr<int64_t> Highest();
  // LATEST; NotFound when nothing was committed.
  absl::StatusOr<int64_t> Latest();
  absl::StatusOr<Manifest> ReadManifest(int64_t version);

  // Writes a rank's shard file of `version`; returns its manifest entry. On a local file
  // system HDF5 writes it in place (temp file, fsync, rename, directory fsync); a remote store
  // gets it as one file image.
  absl::StatusOr<FileEntry> PutShard(int64_t version, int64_t rank, const Shard& shard);
  // Opens a file of a version after checking it against its manifest entry (size, XXH64):
  // DataLoss naming the file when it is missing, of the wrong size or damaged.
  absl::StatusOr<std::unique_ptr<ShardReader>> OpenShard(const Manifest& manifest,
                                                         const FileEntry& file);
  // For a restore that reads every tensor: on a local file system, opens the file after
  // checking only its size, so the tensors (each checked against its own XXH64) come straight
  // from disk in one pass; the caller must then call CheckFile (the file is in the page cache
  // by then) and discard what it read when that fails. Remote stores: OpenShard.
  absl::StatusOr<std::unique_ptr<ShardReader>> OpenShardForRestore(const Manifest& manifest,
                                                                   const FileEntry& file);
  // A version's file as a URI (for messages).
  std::string Where(const Manifest& manifest, const FileEntry& file) const;
  // The whole file against its manifest entry (size, XXH64); DataLoss naming it otherwise.
  absl::Status CheckFile(const Manifest& manifest, const FileEntry& file);
  // Every tensor of the version whose name passes `keep`, assembled from its slices (each file
  // verified); DataLoss when slices leave a tensor incomplete or overlap.
  absl::StatusOr<std::map<std::string, FullTensor>> ReadTensors(
      const Manifest& manifest, const std::function<bool(const std::string&)>& keep);
  // Writes the manifest (AlreadyExists if the version was committed before), then LATEST.
  absl::Status Commit(const Manifest& manifest);
  // Every problem of a version (missing, short or corrupt files, shards HDF5 cannot decode),
  // one line each; empty when the version is good. NotFound when it has no manifest.
  absl::StatusOr<std::vector<std::string>> Verify(int64_t version);
  // Retention: keeps the newest `keep_last` committed versions and those in `protect`, and
  // deletes the other committed versions and every uncommitted one below the newest commit
  // (abandoned saves). Returns the versions deleted.
  absl::StatusOr<std::vector<int64_t>> Prune(int keep_last, const std::set<int64_t>& protect);

 private:
  // version -> whether it has a manifest, from one listing.
  absl::StatusOr<std::map<int64_t, bool>> Scan();
  absl::Status DeleteVersion(int64_t version);
  // A version's file: its path in the store.
  std::string PathOf(const Manifest& manifest, const FileEntry& file) const;
  // The bytes of a file (remote stores), checked like OpenShard.
  absl::StatusOr<std::string> ReadFile(const Manifest& manifest, const FileEntry& file);

  std::shared_ptr<storage::BlobStore> blobs_;
};

}  // namespace mt::ckpt
