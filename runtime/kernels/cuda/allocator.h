// A caching CUDA allocator (mt::Allocator for Device::kCuda): freed blocks are kept per
// rounded size and reused, so steady-state training never calls cudaMalloc/cudaFree (both
// synchronise the device). Thread-safe. Memory is zero-filled on first allocation only.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "runtime/tensor/tensor.h"

namespace mt::cuda {

class CachingAllocator final : public Allocator {
 public:
  void* Allocate(size_t bytes) override;
  void Free(void* ptr, size_t bytes) override;
  Device device() const override { return Device::kCuda; }
  // Returns cached blocks to the driver.
  void Trim();
  size_t cached_bytes() const;

 private:
  static size_t Round(size_t bytes);
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // rounded size -> blocks
};

// The process-wide instance (never destroyed: blocks may be freed during exit).
CachingAllocator* CudaAllocator();

}  // namespace mt::cuda
