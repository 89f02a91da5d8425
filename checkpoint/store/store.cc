// Versioned checkpoint store (see store.h).
#include "checkpoint/store/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "absl/strings/numbers.h"
#include "checkpoint/format/shard.h"
#include "checkpoint/reshard/reshard.h"
#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/hash.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::ckpt {
namespace {

double Seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

constexpr char kManifest[] = "manifest.json";
constexpr char kLatest[] = "LATEST";

// "versions/12/x" -> 12; -1 when the path is not under a version directory.
int64_t VersionOf(const std::string& path) {
  if (path.rfind("versions/", 0) != 0) return -1;
  const size_t end = path.find('/', 9);
  if (end == std::string::npos || end == 9) return -1;
  int64_t v = 0;
  for (size_t i = 9; i < end; ++i) {
    if (path[i] < '0' || path[i] > '9') return -1;
    v = v * 10 + (path[i] - '0');
  }
  return v;
}

}  // namespace

std::string VersionDir(int64_t version) { return fmt::format("versions/{}", version); }
std::string ShardFileName(int64_t rank) { return fmt::format("rank-{:05d}.h5", rank); }

absl::StatusOr<std::shared_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& uri) {
  MT_ASSIGN_OR_RETURN(auto blobs, storage::OpenBlobStore(uri));
  return std::make_shared<CheckpointStore>(std::move(blobs));
}

absl::StatusOr<std::map<int64_t, bool>> CheckpointStore::Scan() {
  MT_ASSIGN_OR_RETURN(auto blobs, blobs_->List("versions/"));
  std::map<int64_t, bool> versions;
  for (const storage::BlobInfo& b : blobs) {
    const int64_t v = VersionOf(b.path);
    if (v < 0) continue;
    versions[v] |= b.path == VersionDir(v) + "/" + kManifest;
  }
  return versions;
}

absl::StatusOr<std::vector<int64_t>> CheckpointStore::Committed() {
  MT_ASSIGN_OR_RETURN(auto versions, Scan());
  std::vector<int64_t> out;
  for (const auto& [v, committed] : versions) {
    if (committed) out.push_back(v);
  }
  return out;
}

absl::StatusOr<int64_t> CheckpointStore::Highest() {
  MT_ASSIGN_OR_RETURN(auto versions, Scan());
  int64_t highest = versions.empty() ? 0 : versions.rbegin()->first;
  auto latest = Latest();  // a store whose version files were pruned still numbers above LATEST
  if (latest.ok()) highest = std::max(highest, *latest);
  return highest;
}

absl::StatusOr<int64_t> CheckpointStore::Latest() {
  auto text = blobs_->Get(kLatest);
  if (!text.ok()) {
    if (text.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(fmt::format("{}: no committed checkpoint version", uri()));
    }
    return text.status();
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v) || v <= 0) {
    return absl::DataLossError(fmt::format("{}/{}: not a version number", uri(), kLatest));
  }
  return v;
}

absl::StatusOr<Manifest> CheckpointStore::ReadManifest(int64_t version) {
  const std::string path = VersionDir(version) + "/" + kManifest;
  auto text = blobs_->Get(path);
  if (!text.ok()) {
    if (text.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(
          fmt::format("{}: checkpoint version {} does not exist (no manifest)", uri(), version));
    }
    return text.status();
  }
  MT_ASSIGN_OR_RETURN(Manifest m, ManifestFromJson(*text, uri() + "/" + path));
  if (m.version != version) {
    return absl::DataLossError(fmt::format("{}/{}: says version {}", uri(), path, m.version));
  }
  return m;
}

absl::StatusOr<FileEntry> CheckpointStore::PutShard(int64_t version, int64_t rank,
                                                    const Shard& shard) {
  FileEntry f;
  f.name = ShardFileName(rank);
  f.rank = rank;
  for (const TensorSlice& t : shard.tensors) {
    if (f.tensors.empty() || f.tensors.back() != t.name) f.tensors.push_back(t.name);
  }
  const std::string path = VersionDir(version) + "/" + f.name;
  if (std::optional<std::string> local = blobs_->LocalPath(path)) {
    MT_RETURN_IF_ERROR(MakeDirs(std::filesystem::path(*local).parent_path().string()));
    const auto t0 = std::chrono::steady_clock::now();
    double written = 0;
    MT_RETURN_IF_ERROR(PublishFileAtomic(*local, [&](const std::string& tmp) {
      absl::Status s = WriteShardFile(tmp, shard);
      written = Seconds(t0);
      return s;
    }));
    const double published = Seconds(t0);
    MT_ASSIGN_OR_RETURN(FileDigest d, Xxh64OfFile(*local));  // from the page cache
    MT_LOG(kDebug, kCkpt,
           "{}: {:.1f} MiB: HDF5 write {:.3f} s, fsync + rename {:.3f} s, xxh64 {:.3f} s", *local,
           d.bytes / 1048576.0, written, published - written, Seconds(t0) - published);
    f.bytes = d.bytes;
    f.xxh64 = d.xxh64;
    return f;
  }
  MT_ASSIGN_OR_RETURN(std::string image, EncodeShard(shard));
  f.bytes = static_cast<int64_t>(image.size());
  f.xxh64 = Xxh64Hex(image.data(), image.size());
  MT_RETURN_IF_ERROR(blobs_->Put(path, image));
  return f;
}

namespace {

// A listed file that cannot be read because it is gone is damage to the version.
absl::Status Missing(const absl::Status& s, const std::string& where) {
  if (s.code() != absl::StatusCode::kNotFound) return s;
  return absl::DataLossError(fmt::format("{}: missing (listed in the manifest)", where));
}

// A file's size, and its XXH64 unless `xxh64` is null, against its manifest entry.
absl::Status Matches(const std::string& where, int64_t bytes, const std::string* xxh64,
                     const FileEntry& f) {
  if (bytes != f.bytes) {
    return absl::DataLossError(
        fmt::format("{}: {} bytes, the manifest says {}", where, bytes, f.bytes));
  }
  if (xxh64 && *xxh64 != f.xxh64) {
    return absl::DataLossError(fmt::format("{}: checksum mismatch (xxh64 {}, the manifest says {})",
                                           where, *xxh64, f.xxh64));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CheckpointStore::PathOf(const Manifest& m, const FileEntry& f) const {
  return VersionDir(m.version) + "/" + f.name;
}

std::string CheckpointStore::Where(const Manifest& m, const FileEntry& f) const {
  return uri() + "/" + PathOf(m, f);
}

absl::StatusOr<std::unique_ptr<ShardReader>> CheckpointStore::OpenShard(const Manifest& m,
                                                                        const FileEntry& f) {
  std::optional<std::string> local = blobs_->LocalPath(PathOf(m, f));
  if (!local) {
    MT_ASSIGN_OR_RETURN(std::string bytes, ReadFile(m, f));
    return ShardReader::OpenImage(bytes, Where(m, f));
  }
  MT_RETURN_IF_ERROR(CheckFile(m, f));
  return ShardReader::OpenFile(*local, Where(m, f));
}

absl::StatusOr<std::unique_ptr<ShardReader>> CheckpointStore::OpenShardForRestore(
    const Manifest& m, const FileEntry& f) {
  std::optional<std::string> local = blobs_->LocalPath(PathOf(m, f));
  if (!local) return OpenShard(m, f);
  auto info = blobs_->Stat(PathOf(m, f));
  if (!info.ok()) return Missing(info.status(), Where(m, f));
  MT_RETURN_IF_ERROR(Matches(Where(m, f), info->size, nullptr, f));
  // The whole file will be read: let the kernel read ahead while HDF5 copies tensors out.
  if (const int fd = ::open(local->c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    ::close(fd);
  }
  return ShardReader::OpenFile(*local, Where(m, f));
}

absl::Status CheckpointStore::CheckFile(const Manifest& m, const FileEntry& f) {
  std::optional<std::string> local = blobs_->LocalPath(PathOf(m, f));
  if (!local) return ReadFile(m, f).status();
  auto d = Xxh64OfFile(*local);
  if (!d.ok()) return Missing(d.status(), Where(m, f));
  return Matches(Where(m, f), d->bytes, &d->xxh64, f);
}

absl::StatusOr<std::string> CheckpointStore::ReadFile(const Manifest& m, const FileEntry& f) {
  auto bytes = blobs_->Get(PathOf(m, f));
  if (!bytes.ok()) return Missing(bytes.status(), Where(m, f));
  const std::string sum = Xxh64Hex(bytes->data(), bytes->size());
  MT_RETURN_IF_ERROR(Matches(Where(m, f), static_cast<int64_t>(bytes->size()), &sum, f));
  return std::move(*bytes);
}

namespace {

// Copies a slice into its place in the whole tensor (row-major, any rank) and marks the
// elements it covers; false when it does not fit or overlaps what another slice covered.
bool PlaceSlice(const TensorSlice& s, FullTensor& full, std::vector<uint8_t>& covered) {
  const size_t rank = s.shape.size();
  if (s.global_shape != full.shape || s.offset.size() != rank) return false;
  for (size_t d = 0; d < rank; ++d) {
    if (s.offset[d] < 0 || s.offset[d] + s.shape[d] > full.shape[d]) return false;
  }
  const std::vector<Run> runs =
      OverlapRuns({s.offset, s.shape}, {std::vector<int64_t>(rank, 0), full.shape});
  for (const Run& r : runs) {
    const auto at = covered.begin() + r.to;
    if (std::find(at, at + r.n, 1) != at + r.n) return false;
    std::fill_n(at, r.n, 1);
  }
  ApplyRuns(runs, s.data.data(), full.data.data());
  return true;
}

}  // namespace

absl::StatusOr<std::map<std::string, FullTensor>> CheckpointStore::ReadTensors(
    const Manifest& m, const std::function<bool(const std::string&)>& keep) {
  std::map<std::string, FullTensor> out;
  std::map<std::string, std::vector<uint8_t>> covered;  // per element, per tensor
  for (const FileEntry& f : m.files) {
    std::set<std::string> wanted;
    for (const std::string& t : f.tensors) {
      if (keep(t)) wanted.insert(t);
    }
    if (wanted.empty()) continue;
    MT_ASSIGN_OR_RETURN(auto reader, OpenShard(m, f));
    for (TensorSlice s : reader->tensors()) {
      if (!wanted.count(s.name)) continue;
      s.data.resize(s.numel());
      MT_RETURN_IF_ERROR(reader->Read(s.dataset, s.data.data()));
      FullTensor& full = out[s.name];
      std::vector<uint8_t>& mask = covered[s.name];
      if (full.shape.empty()) {
        full.shape = s.global_shape;
        const int64_t n = Volume(full.shape);
        full.data.assign(n, 0.0f);
        mask.assign(n, 0);
      }
      if (!PlaceSlice(s, full, mask)) {
        return absl::DataLossError(
            fmt::format("{}: slice of {} does not fit its global shape or overlaps another",
                        Where(m, f), s.name));
      }
    }
  }
  for (const auto& [name, mask] : covered) {
    const auto have = std::count(mask.begin(), mask.end(), 1);
    if (have != static_cast<int64_t>(mask.size())) {
      return absl::DataLossError(
          fmt::format("{}: version {}: tensor {} has {} of {} elements in its slices", uri(),
                      m.version, name, have, mask.size()));
    }
  }
  return out;
}

absl::Status CheckpointStore::Commit(const Manifest& m) {
  const std::string path = VersionDir(m.version) + "/" + kManifest;
  absl::Status s = blobs_->PutIfAbsent(path, ManifestToJson(m));
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(
        fmt::format("{}: checkpoint version {} is already committed", uri(), m.version));
  }
  MT_RETURN_IF_ERROR(s);
  auto latest = Latest();
  if (latest.ok() && *latest > m.version) return absl::OkStatus();  // never move LATEST back
  return blobs_->Put(kLatest, fmt::format("{}\n", m.version));
}

absl::StatusOr<std::vector<std::string>> CheckpointStore::Verify(int64_t version) {
  MT_ASSIGN_OR_RETURN(Manifest m, ReadManifest(version));
  std::vector<std::string> problems;
  for (const FileEntry& f : m.files) {
    auto reader = OpenShard(m, f);
    if (!reader.ok()) {
      // Damage is a finding; a store that cannot be read (unavailable, denied) is an error.
      if (reader.status().code() != absl::StatusCode::kDataLoss) return reader.status();
      problems.push_back(std::string(reader.status().message()));
      continue;
    }
    std::vector<float> values;
    for (const TensorSlice& t : (*reader)->tensors()) {  // each tensor's own checksum too
      values.resize(t.numel());
      absl::Status s = (*reader)->Read(t.dataset, values.data());
      if (!s.ok()) problems.push_back(std::string(s.message()));
    }
  }
  return problems;
}

absl::Status CheckpointStore::DeleteVersion(int64_t version) {
  MT_ASSIGN_OR_RETURN(auto blobs, blobs_->List(VersionDir(version) + "/"));
  // The manifest first: from then on the version does not exist, whatever else remains.
  std::stable_partition(blobs.begin(), blobs.end(),
                        [](const storage::BlobInfo& b) { return b.path.ends_with(kManifest); });
  for (const storage::BlobInfo& b : blobs) {
    absl::Status s = blobs_->Delete(b.path);
    if (!s.ok() && s.code() != absl::StatusCode::kNotFound) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> CheckpointStore::Prune(int keep_last,
                                                            const std::set<int64_t>& protect) {
  MT_ASSIGN_OR_RETURN(auto versions, Scan());
  std::vector<int64_t> committed;
  for (const auto& [v, c] : versions) {
    if (c) committed.push_back(v);
  }
  const int64_t newest = committed.empty() ? 0 : committed.back();
  std::set<int64_t> keep(protect);
  for (int i = 0; i < keep_last && i < static_cast<int>(committed.size()); ++i) {
    keep.insert(committed[committed.size() - 1 - i]);
  }
  std::vector<int64_t> deleted;
  for (const auto& [v, c] : versions) {
    // Uncommitted versions above the newest commit may be saves in flight: left alone.
    if (keep.count(v) || (!c && v > newest)) continue;
    MT_RETURN_IF_ERROR(DeleteVersion(v));
    deleted.push_back(v);
  }
  return deleted;
}

}  // namespace mt::ckpt
