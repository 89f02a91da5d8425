// The checksum of everything meshtrain writes and verifies (dataset shards, checkpoint files):
// XXH64 with seed 0, as 16 lowercase hex digits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace mt {

std::string Xxh64Hex(const void* data, size_t size);

struct FileDigest {
  int64_t bytes = 0;
  std::string xxh64;
};
// Streams a file through XXH64 (1 MiB reads); errors name the path.
absl::StatusOr<FileDigest> Xxh64OfFile(const std::string& path);

}  // namespace mt
