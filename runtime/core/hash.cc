// XXH64 checksums (see hash.h).
#include "runtime/core/hash.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <vector>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt {

std::string Xxh64Hex(const void* data, size_t size) {
  return fmt::format("{:016x}", XXH64(data, size, 0));
}

absl::StatusOr<FileDigest> Xxh64OfFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  std::vector<char> buf(1 << 20);
  FileDigest d;
  absl::Status st;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = ErrnoStatus(errno, "read", path);
      break;
    }
    if (n == 0) break;
    XXH64_update(state, buf.data(), static_cast<size_t>(n));
    d.bytes += n;
  }
  ::close(fd);
  d.xxh64 = fmt::format("{:016x}", XXH64_digest(state));
  XXH64_freeState(state);
  if (!st.ok()) return st;
  return d;
}

}  // namespace mt
