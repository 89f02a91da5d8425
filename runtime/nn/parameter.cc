// Parameter helpers (see parameter.h).
#include "runtime/nn/parameter.h"

#include <cmath>
#include <cstring>
#include <random>

#include "runtime/core/status.h"

namespace mt::nn {
namespace {

// FNV-1a: a stable hash of the parameter name (std::hash may differ between libraries).
uint64_t HashName(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

void FillNormal(Parameter& p, uint64_t seed, float stddev) {
  // Box-Muller on mt19937_64 bits: std::normal_distribution is not specified bit-for-bit.
  std::mt19937_64 gen(seed ^ HashName(p.name));
  auto uniform = [&gen] { return (static_cast<double>(gen() >> 11) + 0.5) * 0x1.0p-53; };
  float* data = p.value.Data<float>();
  const int64_t n = p.value.numel();
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = 2.0 * M_PI * uniform();
    data[i] = static_cast<float>(r * std::cos(a)) * stddev;
    if (i + 1 < n) data[i + 1] = static_cast<float>(r * std::sin(a)) * stddev;
  }
}

std::vector<SlicePiece> SlicePieces(const Shape& full, const PartitionSpec& spec, int tp,
                                    int rank) {
  SlicePiece whole{std::vector<int64_t>(full.size(), 0), full};
  if (spec.replicated() || tp == 1) return {whole};
  MT_CHECK(spec.dim < static_cast<int>(full.size()) && full[spec.dim] % (spec.groups * tp) == 0);
  const int64_t group = full[spec.dim] / spec.groups, part = group / tp;
  std::vector<SlicePiece> pieces;
  for (int g = 0; g < spec.groups; ++g) {
    SlicePiece p = whole;
    p.offset[spec.dim] = g * group + rank * part;
    p.shape[spec.dim] = part;
    pieces.push_back(std::move(p));
  }
  return pieces;
}

Shape GlobalShape(const Shape& local, const PartitionSpec& spec, int tp) {
  Shape s = local;
  if (!spec.replicated()) s[spec.dim] *= tp;
  return s;
}

Shape LocalShape(const Shape& full, const PartitionSpec& spec, int tp) {
  Shape s = full;
  if (!spec.replicated()) s[spec.dim] /= tp;
  return s;
}

namespace {

// Walks the pieces of a rank-1 or rank-2 slice: calls copy(full_index, local_index, n) for
// each contiguous run.
template <typename F>
void ForEachRun(const Shape& full, const PartitionSpec& spec, int tp, int rank, F copy) {
  MT_CHECK(full.size() == 1 || full.size() == 2);
  const int64_t cols = full.size() == 2 ? full[1] : 1;
  int64_t local = 0;
  for (const SlicePiece& p : SlicePieces(full, spec, tp, rank)) {
    const int64_t rows = p.shape[0], width = full.size() == 2 ? p.shape[1] : 1;
    const int64_t col0 = full.size() == 2 ? p.offset[1] : 0;
    for (int64_t r = 0; r < rows; ++r) {
      copy((p.offset[0] + r) * cols + col0, local, width);
      local += width;
    }
  }
}

}  // namespace

void TakeSlice(const Tensor& full, Tensor& local, const PartitionSpec& spec, int tp, int rank) {
  const float* f = full.Data<float>();
  float* l = local.Data<float>();
  MT_CHECK(local.numel() * tp == full.numel() || spec.replicated() || tp == 1);
  ForEachRun(full.shape(), spec, tp, rank,
             [&](int64_t at, int64_t to, int64_t n) { std::memcpy(l + to, f + at, n * 4); });
}

void PutSlice(const Tensor& local, Tensor& full, const PartitionSpec& spec, int tp, int rank) {
  const float* l = local.Data<float>();
  float* f = full.Data<float>();
  ForEachRun(full.shape(), spec, tp, rank,
             [&](int64_t at, int64_t from, int64_t n) { std::memcpy(f + at, l + from, n * 4); });
}

void FillNormalSlice(Parameter& p, const Shape& full, uint64_t seed, float stddev, int tp,
                     int rank) {
  if (p.partition.replicated() || tp == 1) return FillNormal(p, seed, stddev);
  Parameter whole;
  whole.name = p.name;
  whole.value = Tensor::Zeros(full);
  FillNormal(whole, seed, stddev);
  TakeSlice(whole.value, p.value, p.partition, tp, rank);
}

int64_t CountElements(const std::vector<Parameter>& params) {
  int64_t n = 0;
  for (const Parameter& p : params) n += p.value.numel();
  return n;
}

}  // namespace mt::nn
