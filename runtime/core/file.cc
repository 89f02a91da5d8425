// File helpers (see file.h).
#include "runtime/core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt {
namespace {

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::Status PublishFileAtomic(const std::string& path,
                               const std::function<absl::Status(const std::string& tmp)>& write) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  absl::Status st = write(tmp);
  if (st.ok()) {
    int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      st = ErrnoStatus(errno, "open", tmp);
    } else {
      if (::fsync(fd) != 0) st = ErrnoStatus(errno, "fsync", tmp);
      ::close(fd);
    }
  }
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = ErrnoStatus(errno, "rename", path);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus(errno, "open directory", dir);
  st = ::fsync(dfd) == 0 ? absl::OkStatus() : ErrnoStatus(errno, "fsync directory", dir);
  ::close(dfd);
  return st;
}

absl::Status WriteFileAtomic(const std::string& path, std::string_view data) {
  return PublishFileAtomic(path, [&](const std::string& tmp) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "open", tmp);
    absl::Status st = WriteAll(fd, data, tmp);
    if (::close(fd) != 0 && st.ok()) st = ErrnoStatus(errno, "close", tmp);
    return st;
  });
}

absl::Status CheckOutputFree(const std::string& path, bool force, std::string_view flag) {
  std::error_code ec;
  const auto st = std::filesystem::symlink_status(path, ec);
  if (force || ec || !std::filesystem::exists(st)) return absl::OkStatus();
  return absl::AlreadyExistsError(
      fmt::format("{} {}: exists ({}); pass --force to replace it", flag, path,
                  std::filesystem::is_directory(st) ? "a directory" : "a file"));
}

absl::Status PublishDirAtomic(const std::string& dir,
                              const std::function<absl::Status(const std::string& tmp)>& write) {
  namespace fs = std::filesystem;
  const std::string path = fs::path(dir).lexically_normal().string();
  const std::string clean =
      path.size() > 1 && path.back() == '/' ? path.substr(0, path.size() - 1) : path;
  const std::string tmp = fmt::format("{}.partial.{}", clean, ::getpid());
  const std::string old = fmt::format("{}.old.{}", clean, ::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (const std::string parent = fs::path(clean).parent_path().string(); !parent.empty()) {
    MT_RETURN_IF_ERROR(MakeDirs(parent));
  }
  absl::Status st = write(tmp);
  const bool replacing = fs::exists(clean, ec);
  if (st.ok() && replacing && ::rename(clean.c_str(), old.c_str()) != 0) {
    st = ErrnoStatus(errno, "rename", clean);
  }
  if (st.ok() && ::rename(tmp.c_str(), clean.c_str()) != 0) {
    st = ErrnoStatus(errno, "rename", tmp);
    if (replacing) ::rename(old.c_str(), clean.c_str());  // put the old one back
  }
  if (!st.ok()) {
    fs::remove_all(tmp, ec);
    return st;
  }
  if (replacing) fs::remove_all(old, ec);
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return ErrnoStatus(ec.value(), "mkdir", path);
  return absl::OkStatus();
}

}  // namespace mt
