// Writes a dataset in the index.json + shards format (index.h) into a local directory.
// Shards are written atomically as they fill; index.json is written last, so a directory
// without index.json is an unfinished dataset, never a wrong one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/data/index.h"

namespace mt::data {

class DatasetWriter {
 public:
  // `header` gives tokenizer, vocab_size, sample_len and the optional answer/pad tokens.
  DatasetWriter(std::string dir, DatasetIndex header, int64_t samples_per_shard);

  // Appends one sample of exactly sample_len tokens, each in [0, vocab_size), to `split`.
  absl::Status Add(const std::string& split, const std::vector<int32_t>& tokens);
  // The index's "provenance" object (index.h), written by Finish.
  void SetProvenance(std::string json) { index_.provenance = std::move(json); }
  // Flushes partial shards and writes index.json. The writer is unusable afterwards.
  absl::Status Finish();
  const DatasetIndex& index() const { return index_; }

 private:
  absl::Status Flush(const std::string& split);

  std::string dir_;
  DatasetIndex index_;
  int64_t samples_per_shard_;
  std::map<std::string, std::vector<uint16_t>> pending_;
  std::map<std::string, int> shard_counts_;
};

}  // namespace mt::data
