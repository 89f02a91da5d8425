// File-backed Store (see store.h): one file per key named by the key's hex encoding, written
// atomically (temp + rename) so readers never see a partial value; Add and CompareSet
// serialise on an flock of DIR/.lock; blocking reads poll (5 ms).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <thread>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "runtime/comm/store.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/core/text.h"

namespace mt::comm {
namespace {

constexpr Millis kPoll{5};

class FileStore final : public Store {
 public:
  explicit FileStore(std::string dir) : dir_(std::move(dir)) {}

  absl::Status Set(const std::string& key, const std::string& value) override {
    return WriteFileAtomic(Path(key), value);
  }

  absl::StatusOr<std::string> Get(const std::string& key, Millis timeout) override {
    MT_RETURN_IF_ERROR(Wait({key}, timeout));
    return ReadFile(Path(key));
  }

  absl::Status Wait(const std::vector<std::string>& keys, Millis timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      std::vector<std::string> missing;
      for (const auto& k : keys) {
        if (::access(Path(k).c_str(), F_OK) != 0) missing.push_back(k);
      }
      if (missing.empty()) return absl::OkStatus();
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError(fmt::format("store {}: keys not set within {} ms: {}",
                                                       dir_, timeout.count(),
                                                       fmt::join(missing, ", ")));
      }
      std::this_thread::sleep_for(kPoll);
    }
  }

  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta) override {
    MT_ASSIGN_OR_RETURN(Lock lock, Lock::Acquire(dir_ + "/.lock"));
    int64_t value = 0;
    if (auto current = ReadFile(Path(key)); current.ok()) {
      auto parsed = text::ToInt(*current);
      if (!parsed) {
        return absl::FailedPreconditionError(
            fmt::format("store {}: Add on key '{}' holding a non-integer", dir_, key));
      }
      value = *parsed;
    }
    value += delta;
    MT_RETURN_IF_ERROR(WriteFileAtomic(Path(key), std::to_string(value)));
    return value;
  }

  absl::StatusOr<std::string> CompareSet(const std::string& key, const std::string& expected,
                                         const std::string& desired) override {
    MT_ASSIGN_OR_RETURN(Lock lock, Lock::Acquire(dir_ + "/.lock"));
    auto current = ReadFile(Path(key));
    const std::string value = current.ok() ? *current : "";
    if (value != expected) return value;
    MT_RETURN_IF_ERROR(WriteFileAtomic(Path(key), desired));
    return desired;
  }

 private:
  // An exclusive flock held for its lifetime.
  class Lock {
   public:
    static absl::StatusOr<Lock> Acquire(const std::string& path) {
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return ErrnoStatus(errno, "open", path);
      if (::flock(fd, LOCK_EX) != 0) {
        const int err = errno;
        ::close(fd);
        return ErrnoStatus(err, "flock", path);
      }
      return Lock(fd);
    }
    Lock(Lock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    ~Lock() {
      if (fd_ >= 0) ::close(fd_);  // closing releases the flock
    }

   private:
    explicit Lock(int fd) : fd_(fd) {}
    int fd_;
  };

  std::string Path(const std::string& key) const {
    std::string hex;
    for (unsigned char c : key) hex += fmt::format("{:02x}", c);
    return dir_ + "/k" + hex;
  }

  std::string dir_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<Store>> MakeFileStore(const std::string& dir) {
  MT_RETURN_IF_ERROR(MakeDirs(dir));
  return std::shared_ptr<Store>(std::make_shared<FileStore>(dir));
}

}  // namespace mt::comm
