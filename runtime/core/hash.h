// The checksum of everything meshtrain writes and verifies (dataset shards, checkpoint files):
// XXH64 with seed 0, as 16 lowercase hex digits.
#pragma once

#include <cstddef>
#include <string>

namespace mt {

std::string Xxh64Hex(const void* data, size_t size);

}  // namespace mt
