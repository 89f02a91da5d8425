// Element types and devices of tensors, and bf16 <-> f32 conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mt {

enum class DType : uint8_t { kF32, kBF16 };
enum class Device : uint8_t { kCpu, kCuda };

constexpr size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 2; }
constexpr std::string_view DTypeName(DType t) { return t == DType::kF32 ? "f32" : "bf16"; }
constexpr std::string_view DeviceName(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

// bf16 is the top half of an f32. Rounding is to nearest, ties to even; NaN stays NaN.
inline uint16_t F32ToBF16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float BF16ToF32(uint16_t h) {
  uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace mt
