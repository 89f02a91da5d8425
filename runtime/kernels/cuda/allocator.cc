// Caching CUDA allocator (see allocator.h).
#include "runtime/kernels/cuda/allocator.h"

#include <cuda_runtime_api.h>

namespace mt::cuda {

size_t CachingAllocator::Round(size_t bytes) {
  // 512-byte granularity up to 1 MiB, then 2 MiB: few size classes, little waste.
  const size_t unit = bytes < (1u << 20) ? 512 : (2u << 20);
  return bytes == 0 ? unit : (bytes + unit - 1) / unit * unit;
}

void* CachingAllocator::Allocate(size_t bytes) {
  const size_t size = Round(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      return p;
    }
  }
  void* p = nullptr;
  if (cudaMalloc(&p, size) != cudaSuccess) {
    Trim();  // give cached blocks back and try once more
    if (cudaMalloc(&p, size) != cudaSuccess) return nullptr;
  }
  cudaMemset(p, 0, size);
  return p;
}

void CachingAllocator::Free(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  free_[Round(bytes)].push_back(ptr);
}

void CachingAllocator::Trim() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) cudaFree(p);
    blocks.clear();
  }
}

size_t CachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [size, blocks] : free_) n += size * blocks.size();
  return n;
}

CachingAllocator* CudaAllocator() {
  static CachingAllocator* allocator = new CachingAllocator();
  return allocator;
}

}  // namespace mt::cuda
