// A dataset opened from a local directory (file://PATH or a plain path): index checked, every
// shard's size and XXH64 verified, samples held in memory. Streaming from blob storage with a
// bounded cache replaces the in-memory load later (issue #8); the interface stays.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data/index.h"

namespace mt::data {

class Dataset {
 public:
  // Errors name the dataset URI and the shard or field at fault: a missing index, a shard of
  // the wrong size, a checksum mismatch, an unsupported scheme.
  static absl::StatusOr<Dataset> Open(const std::string& uri);

  const DatasetIndex& index() const { return index_; }
  int64_t Samples(const std::string& split) const { return index_.Samples(split); }
  // Copies sample `i` of `split` (0 <= i < Samples(split)) into out[0..sample_len).
  void Sample(const std::string& split, int64_t i, int32_t* out) const;

 private:
  DatasetIndex index_;
  std::map<std::string, std::vector<uint16_t>> tokens_;  // split -> all samples, in shard order
};

// The local directory a dataset URI names ("file://runs/d" and "runs/d" -> "runs/d").
absl::StatusOr<std::string> LocalPath(const std::string& uri);

}  // namespace mt::data
