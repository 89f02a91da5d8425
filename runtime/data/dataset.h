// A dataset opened from any BlobStore URI (file://PATH, a plain path, az://ACCOUNT/CONTAINER/
// PREFIX): index checked, every shard's size and XXH64 verified, samples held in memory.
// Streaming with prefetch and a bounded cache replaces the in-memory load later (issue #8);
// the interface stays.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/data/index.h"
#include "runtime/storage/blob_store.h"

namespace mt::data {

class Dataset {
 public:
  // Errors name the dataset URI and the shard or field at fault: a missing index, a shard of
  // the wrong size, a checksum mismatch, an unsupported scheme.
  static absl::StatusOr<Dataset> Open(const std::string& uri);
  static absl::StatusOr<Dataset> Open(storage::BlobStore& store);

  const DatasetIndex& index() const { return index_; }
  int64_t Samples(const std::string& split) const { return index_.Samples(split); }
  // Copies sample `i` of `split` (0 <= i < Samples(split)) into out[0..sample_len).
  void Sample(const std::string& split, int64_t i, int32_t* out) const;

 private:
  DatasetIndex index_;
  std::map<std::string, std::vector<uint16_t>> tokens_;  // split -> all samples, in shard order
};

// The dataset's index.json, checked; NotFound says how to create a dataset.
absl::StatusOr<DatasetIndex> OpenIndex(storage::BlobStore& store);

// The dataset as trained on: "URI#xxh64:HEX", the XXH64 of its index (shard names, sizes and
// checksums), so the same bytes give the same fingerprint wherever they live. Reads the index
// only; errors as OpenIndex's.
absl::StatusOr<std::string> Fingerprint(const std::string& uri);

// Samples `ids` of `split` (ids number the split's samples in shard order), read now shard by
// shard, verified: ids.size() * sample_len tokens, in the order of `ids`. For small sets
// (evaluation); training streams through the Loader. `on_read` (the audit hook) sees each
// shard read.
absl::StatusOr<std::vector<uint16_t>> ReadSamples(
    storage::BlobStore& store, const DatasetIndex& index, const std::string& split,
    const std::vector<int64_t>& ids, const std::function<void(const ShardInfo&)>& on_read = {});

// One shard's bytes, checked against the index (size, XXH64, token ids per `tokens`); errors
// name the blob (and the sample and position of a bad id). With part_bytes > 0 the shard is
// read as ranged GETs of that size, so a failure costs one part.
absl::StatusOr<std::string> ReadShard(storage::BlobStore& store, const ShardInfo& shard,
                                      int64_t part_bytes = 0, TokenCheck tokens = {});

// Copies a dataset between stores (`meshtrain data upload`), verifying every shard; the index
// is written last, so an interrupted copy leaves no dataset behind, only shards.
absl::Status CopyDataset(storage::BlobStore& from, storage::BlobStore& to);

}  // namespace mt::data
