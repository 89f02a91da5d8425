// One rank's checkpoint shard: an HDF5 file (DESIGN §3 "Checkpoints") that anyone can open
// with h5dump or h5py.
//
// Layout:
//   /                 attributes: magic "meshtrain.checkpoint", format_version 1, step,
//                     cursor (global sample position), rank, world_size, mesh [dp, tp, pp],
//                     seed, job_hash
//   /tensors/<name>   one dataset per tensor slice this rank saved: contiguous little-endian
//                     f32; attributes global_shape, offset (of this slice in the global
//                     tensor), dtype ("f32"), xxh64 (of the slice's bytes). A rank holding
//                     several rectangles of one tensor (tensor parallelism splits QKV as q, k
//                     and v rows) names the k-th "<name>#k" for k >= 1.
// Tensor names: parameters by their stable model name ("h.0.attn.c_attn.weight"), AdamW
// moments as "optim.m.<param>" and "optim.v.<param>".
//
// Checksums: each dataset carries the XXH64 of its bytes, checked on every read, so bit rot
// is caught even when a reader takes only some tensors of a file (resharding); the manifest
// holds each whole file's XXH64 besides. Contiguous datasets (not chunked) let HDF5 read and
// write straight between the file and the tensors; no object timestamps are stored, so the
// same state gives the same bytes (tested).
//
// Two ways in and out: a file on a local file system (WriteShardFile / ShardReader::OpenFile,
// no copy of the state in memory), or a file image in memory for blob stores (EncodeShard /
// ShardReader::OpenImage).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::ckpt {

inline constexpr char kShardMagic[] = "meshtrain.checkpoint";
inline constexpr int64_t kShardFormatVersion = 1;

struct TensorSlice {
  std::string name;  // the tensor's
  std::vector<int64_t> global_shape;
  std::vector<int64_t> offset;  // of this slice in the global tensor, per dimension
  std::vector<int64_t> shape;   // of this slice
  std::vector<float> data;      // the values (row-major), owned: a snapshot, or what was read
  const float* view = nullptr;  // or values owned elsewhere, valid until the write returns
  std::string xxh64;            // read from the file (empty when writing)
  std::string dataset;          // in the file: `name`, or "<name>#k" (writing: empty = `name`)

  const float* values() const { return view ? view : data.data(); }
  int64_t numel() const;
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

// Writes `shard` as the HDF5 file `path` (created or truncated; not fsynced).
absl::Status WriteShardFile(const std::string& path, const Shard& shard);
// The same file as an image in memory.
absl::StatusOr<std::string> EncodeShard(const Shard& shard);

// An open shard: header and tensor metadata at once, tensor values on demand.
class ShardReader {
 public:
  // `source` names the shard in errors. DataLoss for anything not a readable shard.
  static absl::StatusOr<std::unique_ptr<ShardReader>> OpenFile(const std::string& path,
                                                               const std::string& source);
  static absl::StatusOr<std::unique_ptr<ShardReader>> OpenImage(std::string_view image,
                                                                const std::string& source);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const ShardHeader& header() const { return header_; }
  // Every tensor slice in the file, without values (data empty, xxh64 set), by name.
  const std::vector<TensorSlice>& tensors() const { return tensors_; }
  // Reads dataset `dataset`'s numel() values into `dst` and checks them against their XXH64:
  // DataLoss naming the source and the tensor on a mismatch or a failed read.
  absl::Status Read(const std::string& dataset, float* dst) const;

 private:
  ShardReader(int64_t file, std::string source) : file_(file), source_(std::move(source)) {}
  // Takes an open HDF5 file handle (negative: opening failed) and reads its metadata.
  static absl::StatusOr<std::unique_ptr<ShardReader>> Adopt(int64_t file,
                                                            const std::string& source);
  absl::Status Load();

  int64_t file_;  // the HDF5 file handle (hid_t)
  std::string source_;
  ShardHeader header_;
  std::vector<TensorSlice> tensors_;
};

// Opens an image and reads the tensors in `only` (all when null) into their `data`; the
// others are listed without values.
absl::StatusOr<Shard> DecodeShard(std::string_view image, const std::string& source,
                                  const std::set<std::string>* only = nullptr);

}  // namespace mt::ckpt
