// Tensor: a shape, a dtype, a device and contiguous storage shared between copies.
//
// Ownership: copying a Tensor shares its storage (like a shared_ptr); Clone() deep-copies.
// Storage comes from an Allocator; host memory is 64-byte aligned and zero-filled. Kernels take
// raw pointers (Data<float>()), so a Tensor is the owner and the shape checker, not a graph node.
// Thread safety: distinct Tensors may be used from different threads; one Tensor's data is
// whatever its users synchronise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/core/status.h"
#include "runtime/tensor/dtype.h"

namespace mt {

using Shape = std::vector<int64_t>;

// Where storage comes from. Allocate returns nullptr on failure.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr, size_t bytes) = 0;
  virtual Device device() const = 0;
};

// 64-byte aligned, zero-filled host memory.
Allocator* HostAllocator();

class Tensor {
 public:
  Tensor() = default;  // empty: no storage, numel 0

  // A zero-filled host tensor (or one from `allocator`). Errors: negative dims, out of memory.
  static absl::StatusOr<Tensor> Empty(Shape shape, DType dtype = DType::kF32,
                                      Allocator* allocator = HostAllocator());
  // Like Empty for host f32 tensors whose size is known to be sane; aborts on allocation failure.
  static Tensor Zeros(Shape shape, DType dtype = DType::kF32);

  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * DTypeSize(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->allocator->device() : Device::kCpu; }
  bool empty() const { return numel_ == 0; }

  template <typename T>
  T* Data() {
    return static_cast<T*>(storage_ ? storage_->ptr : nullptr);
  }
  template <typename T>
  const T* Data() const {
    return static_cast<const T*>(storage_ ? storage_->ptr : nullptr);
  }

  // Deep copy of a host tensor.
  Tensor Clone() const;
  // "f32[4, 128]"
  std::string Describe() const;

 private:
  struct Storage {
    void* ptr = nullptr;
    size_t bytes = 0;
    Allocator* allocator = nullptr;
    ~Storage();
  };
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::kF32;
  std::shared_ptr<Storage> storage_;
};

int64_t NumElements(const Shape& shape);

// Sets every byte of a host tensor to zero.
void ZeroFill(Tensor& t);
// Grows a host f32 buffer to hold at least `shape` (never shrinks: activation buffers are reused
// across steps, so a smaller batch does not reallocate).
void EnsureCapacity(Tensor& t, Shape shape);

}  // namespace mt
