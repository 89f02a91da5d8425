// Tensor storage and the host allocator (see tensor.h).
#include "runtime/tensor/tensor.h"

#include <cstdlib>
#include <cstring>

#include "fmt/format.h"
#include "fmt/ranges.h"

namespace mt {
namespace {

class AlignedHostAllocator final : public Allocator {
 public:
  void* Allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p != nullptr) std::memset(p, 0, rounded == 0 ? 64 : rounded);
    return p;
  }
  void Free(void* ptr, size_t) override { std::free(ptr); }
  Device device() const override { return Device::kCpu; }
};

}  // namespace

Allocator* HostAllocator() {
  static AlignedHostAllocator* allocator = new AlignedHostAllocator();
  return allocator;
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void ZeroFill(Tensor& t) {
  if (t.nbytes() > 0) std::memset(t.Data<float>(), 0, t.nbytes());
}

void EnsureCapacity(Tensor& t, Shape shape) {
  if (t.numel() < NumElements(shape)) t = Tensor::Zeros(std::move(shape));
}

Tensor::Storage::~Storage() {
  if (ptr != nullptr) allocator->Free(ptr, bytes);
}

absl::StatusOr<Tensor> Tensor::Empty(Shape shape, DType dtype, Allocator* allocator) {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          fmt::format("negative dimension in shape [{}]", fmt::join(shape, ", ")));
    }
  }
  Tensor t;
  t.numel_ = NumElements(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->allocator = allocator;
  t.storage_->bytes = t.nbytes();
  t.storage_->ptr = allocator->Allocate(t.storage_->bytes);
  if (t.storage_->ptr == nullptr) {
    return absl::ResourceExhaustedError(
        fmt::format("cannot allocate {} bytes on {}", t.nbytes(), DeviceName(allocator->device())));
  }
  return t;
}

Tensor Tensor::Zeros(Shape shape, DType dtype) {
  auto t = Empty(std::move(shape), dtype);
  MT_CHECK(t.ok());
  return *std::move(t);
}

Tensor Tensor::Clone() const {
  MT_CHECK(device() == Device::kCpu);
  Tensor copy = Zeros(shape_, dtype_);
  if (nbytes() > 0) std::memcpy(copy.storage_->ptr, storage_->ptr, nbytes());
  return copy;
}

std::string Tensor::Describe() const {
  return fmt::format("{}[{}]", DTypeName(dtype_), fmt::join(shape_, ", "));
}

}  // namespace mt
