// XXH64 checksums (see hash.h).
#include "runtime/core/hash.h"

#include <xxhash.h>

#include "fmt/format.h"

namespace mt {

std::string Xxh64Hex(const void* data, size_t size) {
  return fmt::format("{:016x}", XXH64(data, size, 0));
}

}  // namespace mt
