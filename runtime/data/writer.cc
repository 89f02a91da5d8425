// Dataset writer (see writer.h).
#include "runtime/data/writer.h"

#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"

namespace mt::data {

DatasetWriter::DatasetWriter(std::string dir, DatasetIndex header, int64_t samples_per_shard)
    : dir_(std::move(dir)), index_(std::move(header)), samples_per_shard_(samples_per_shard) {
  index_.shards.clear();
}

absl::Status DatasetWriter::Add(const std::string& split, const std::vector<int32_t>& tokens) {
  if (split != "train" && split != "eval") {
    return absl::InvalidArgumentError(fmt::format("unknown split \"{}\"", split));
  }
  if (static_cast<int64_t>(tokens.size()) != index_.sample_len) {
    return absl::InvalidArgumentError(fmt::format("sample has {} tokens, expected sample_len {}",
                                                  tokens.size(), index_.sample_len));
  }
  // Check the whole sample first: a rejected sample must leave nothing behind in the shard.
  for (int32_t t : tokens) {
    if (t < 0 || t >= index_.vocab_size) {
      return absl::InvalidArgumentError(
          fmt::format("token {} outside the vocabulary [0, {})", t, index_.vocab_size));
    }
  }
  std::vector<uint16_t>& buf = pending_[split];
  for (int32_t t : tokens) buf.push_back(static_cast<uint16_t>(t));  // little-endian hosts
  if (static_cast<int64_t>(buf.size()) >= samples_per_shard_ * index_.sample_len) {
    return Flush(split);
  }
  return absl::OkStatus();
}

absl::Status DatasetWriter::Flush(const std::string& split) {
  std::vector<uint16_t>& buf = pending_[split];
  if (buf.empty()) return absl::OkStatus();
  ShardInfo shard;
  shard.name = fmt::format("{}-{:05d}.bin", split, shard_counts_[split]++);
  shard.split = split;
  shard.samples = static_cast<int64_t>(buf.size()) / index_.sample_len;
  shard.bytes = static_cast<int64_t>(buf.size() * sizeof(uint16_t));
  shard.xxh64 = Xxh64Hex(buf.data(), shard.bytes);
  MT_RETURN_IF_ERROR(
      WriteFileAtomic(dir_ + "/" + shard.name,
                      std::string_view(reinterpret_cast<const char*>(buf.data()), shard.bytes)));
  index_.shards.push_back(shard);
  buf.clear();
  return absl::OkStatus();
}

absl::Status DatasetWriter::Finish() {
  for (const char* split : {"train", "eval"}) MT_RETURN_IF_ERROR(Flush(split));
  return WriteFileAtomic(dir_ + "/" + kIndexName, IndexToJson(index_));
}

}  // namespace mt::data
