// file:// BlobStore: blobs are files under a root directory (see blob_store.h). Put writes a
// temporary file and renames it over the target (atomic); PutIfAbsent links the temporary
// file to the target name (link(2) fails if it exists), so exactly one writer wins.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/storage/blob_store.h"

namespace mt::storage {
namespace {

std::string Errno(const std::string& what) { return fmt::format("{}: {}", what, strerror(errno)); }

absl::Status ErrnoStatus(const std::string& what) {
  const int e = errno;
  if (e == ENOENT) return absl::NotFoundError(Errno(what));
  if (e == EEXIST) return absl::AlreadyExistsError(Errno(what));
  if (e == EACCES || e == EPERM) return absl::PermissionDeniedError(Errno(what));
  return absl::InternalError(Errno(what));
}

// flock(2) on an open file: released when the descriptor closes, or by the kernel when the
// process dies. O_CLOEXEC keeps it out of the children a run starts.
class FileHold final : public Hold {
 public:
  explicit FileHold(int fd) : fd_(fd) {}
  ~FileHold() override { ::close(fd_); }

 private:
  int fd_;
};

class FileStore final : public BlobStore {
 public:
  FileStore(std::string root, std::string uri) : root_(std::move(root)), uri_(std::move(uri)) {}

  absl::StatusOr<std::string> Get(const std::string& path, int64_t offset,
                                  int64_t length) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    const std::string file = Full(path);
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(Where(path));
    struct stat st {};
    fstat(fd, &st);
    if (offset < 0 || (offset > 0 && offset >= st.st_size)) {
      ::close(fd);
      return absl::OutOfRangeError(fmt::format("{}: offset {} is at or past the end ({} bytes)",
                                               Where(path), offset, st.st_size));
    }
    const int64_t n = length < 0 ? st.st_size - offset : std::min(length, st.st_size - offset);
    std::string out(static_cast<size_t>(n), '\0');
    int64_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd, out.data() + done, n - done, offset + done);
      if (r <= 0) {
        ::close(fd);
        return r == 0 ? absl::DataLossError(Where(path) + ": file shrank while reading")
                      : ErrnoStatus(Where(path));
      }
      done += r;
    }
    ::close(fd);
    return out;
  }

  absl::Status Put(const std::string& path, std::string_view data) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    MT_RETURN_IF_ERROR(MakeParent(path));
    return WriteFileAtomic(Full(path), data);
  }

  absl::Status PutIfAbsent(const std::string& path, std::string_view data) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    MT_RETURN_IF_ERROR(MakeParent(path));
    const std::string file = Full(path);
    const std::string tmp = fmt::format("{}.tmp.{}.{}", file, getpid(), ++counter_);
    MT_RETURN_IF_ERROR(WriteFileAtomic(tmp, data));
    const int rc = ::link(tmp.c_str(), file.c_str());
    const int e = errno;
    ::unlink(tmp.c_str());
    if (rc != 0) {
      errno = e;
      if (e == EEXIST) return absl::AlreadyExistsError(Where(path) + ": already exists");
      return ErrnoStatus(Where(path));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<BlobInfo>> List(const std::string& prefix) override {
    std::vector<BlobInfo> out;
    MT_RETURN_IF_ERROR(Walk("", [&](const std::string& rel, int64_t size) {
      if (rel.starts_with(prefix) && rel.find(".tmp.") == std::string::npos) {
        out.push_back({rel, size});
      }
    }));
    std::sort(out.begin(), out.end(),
              [](const BlobInfo& a, const BlobInfo& b) { return a.path < b.path; });
    return out;
  }

  absl::StatusOr<BlobInfo> Stat(const std::string& path) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    struct stat st {};
    if (::stat(Full(path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      if (errno == 0 || S_ISDIR(st.st_mode)) errno = ENOENT;
      return ErrnoStatus(Where(path));
    }
    return BlobInfo{path, st.st_size};
  }

  absl::Status Delete(const std::string& path) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    if (::unlink(Full(path).c_str()) != 0) return ErrnoStatus(Where(path));
    // Like a blob prefix, a directory exists only while something is in it: empty parents go
    // (rmdir fails harmlessly on the first one that is not empty).
    for (auto slash = path.rfind('/'); slash != std::string::npos;
         slash = path.rfind('/', slash - 1)) {
      if (::rmdir(Full(path.substr(0, slash)).c_str()) != 0 || slash == 0) break;
    }
    return absl::OkStatus();
  }

  std::optional<std::string> LocalPath(const std::string& path) const override {
    if (!CheckPath(path).ok()) return std::nullopt;
    return Full(path);
  }

  absl::Status CheckExists() override {
    struct stat st {};
    if (::stat(root_.c_str(), &st) != 0) return ErrnoStatus(uri_);
    if (!S_ISDIR(st.st_mode)) return absl::NotFoundError(uri_ + ": not a directory");
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Hold>> TakeHold(const std::string& path,
                                                 const std::string& holder) override {
    MT_RETURN_IF_ERROR(CheckPath(path));
    MT_RETURN_IF_ERROR(MakeParent(path));
    const std::string file = Full(path);
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(Where(path));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(fd);
      if (e != EWOULDBLOCK)
        return absl::InternalError(fmt::format("{}: flock: {}", Where(path), strerror(e)));
      auto text = Get(path, 0, -1);
      return absl::FailedPreconditionError(
          fmt::format("{} is held by {}", Where(path),
                      text.ok() && !text->empty() ? *text : "another process"));
    }
    auto hold = std::make_unique<FileHold>(fd);
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, holder.data(), holder.size(), 0) < 0) {
      return ErrnoStatus(Where(path));
    }
    return hold;
  }

  const std::string& uri() const override { return uri_; }

 private:
  std::string Full(const std::string& path) const { return root_ + "/" + path; }
  std::string Where(const std::string& path) const { return uri_ + "/" + path; }

  absl::Status MakeParent(const std::string& path) {
    const auto slash = path.rfind('/');
    return MakeDirs(slash == std::string::npos ? root_ : root_ + "/" + path.substr(0, slash));
  }

  // Calls fn(relative path, size) for every regular file below root_/rel.
  absl::Status Walk(const std::string& rel,
                    const std::function<void(const std::string&, int64_t)>& fn) {
    const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return absl::OkStatus();  // an empty store lists nothing
      return ErrnoStatus(dir);
    }
    absl::Status status;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = rel.empty() ? name : rel + "/" + name;
      struct stat st {};
      if (::stat((root_ + "/" + child).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        status.Update(Walk(child, fn));
      } else if (S_ISREG(st.st_mode)) {
        fn(child, st.st_size);
      }
    }
    ::closedir(d);
    return status;
  }

  std::string root_, uri_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace

absl::Status CheckPath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/' ||
      path.find("..") != std::string::npos || path.find("//") != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "blob path '{}' must be relative, non-empty, without '..' or empty segments", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileStore(const std::string& root) {
  std::string clean = root;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  if (clean.empty()) return absl::InvalidArgumentError("file store: empty path");
  return std::unique_ptr<BlobStore>(new FileStore(clean, "file://" + clean));
}

}  // namespace mt::storage
