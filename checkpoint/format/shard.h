// One rank's checkpoint shard: an HDF5 file (DESIGN §3 "Checkpoints") that anyone can open
// with h5dump or h5py.
//
// Layout:
//   /                 attributes: magic "meshtrain.checkpoint", format_version 1, step,
//                     cursor (global sample position), rank, world_size, mesh [dp, tp, pp],
//                     seed, job_hash
//   /tensors/<name>   one dataset per tensor slice this rank saved, native little-endian f32,
//                     chunked with the Fletcher32 filter (bit rot fails the read, naming the
//                     dataset); attributes global_shape, offset (of this slice in the global
//                     tensor), dtype ("f32").
// Tensor names: parameters by their stable model name ("h.0.attn.c_attn.weight"), AdamW
// moments as "optim.m.<param>" and "optim.v.<param>".
//
// Shards are built in memory (HDF5's core driver) so one byte string goes to any BlobStore:
// a file store writes it with fsync + rename, az:// as staged blocks.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::ckpt {

inline constexpr char kShardMagic[] = "meshtrain.checkpoint";
inline constexpr int64_t kShardFormatVersion = 1;

struct TensorSlice {
  std::string name;
  std::vector<int64_t> global_shape;
  std::vector<int64_t> offset;  // of this slice in the global tensor, per dimension
  std::vector<int64_t> shape;   // of this slice
  std::vector<float> data;      // row-major, product(shape) values
};

struct ShardHeader {
  int64_t step = 0;
  int64_t cursor = 0;
  int64_t rank = 0, world_size = 1;
  std::vector<int64_t> mesh = {1, 1, 1};  // dp, tp, pp
  uint64_t seed = 0;
  std::string job_hash;
};

struct Shard {
  ShardHeader header;
  std::vector<TensorSlice> tensors;
};

// The HDF5 file image of `shard`.
absl::StatusOr<std::string> EncodeShard(const Shard& shard);

// Parses a file image; `source` names it in errors. With `only`, reads just those tensors
// (the others are listed with empty data). DataLoss for a bad magic, a failed Fletcher32
// check or a malformed dataset; errors name the source and the tensor.
absl::StatusOr<Shard> DecodeShard(std::string_view image, const std::string& source,
                                  const std::set<std::string>* only = nullptr);

}  // namespace mt::ckpt
