// In-memory dataset reader (see dataset.h).
#include "runtime/data/dataset.h"

#include <cstring>

#include "fmt/format.h"
#include "runtime/core/hash.h"
#include "runtime/core/status.h"

namespace mt::data {

absl::StatusOr<Dataset> Dataset::Open(const std::string& uri) {
  MT_ASSIGN_OR_RETURN(auto store, storage::OpenBlobStore(uri));
  return Open(*store);
}

absl::StatusOr<DatasetIndex> OpenIndex(storage::BlobStore& store) {
  const std::string& uri = store.uri();
  auto text = store.Get(kIndexName);
  if (!text.ok()) {
    if (text.status().code() != absl::StatusCode::kNotFound) return text.status();
    return absl::NotFoundError(
        fmt::format("{}: no dataset here ({}); create one with `meshtrain data prepare`", uri,
                    std::string(text.status().message())));
  }
  return IndexFromJson(*text, uri + "/" + kIndexName);
}

absl::StatusOr<std::vector<uint16_t>> ReadSamples(
    storage::BlobStore& store, const DatasetIndex& index, const std::string& split,
    const std::vector<int64_t>& ids, const std::function<void(const ShardInfo&)>& on_read) {
  const int64_t len = index.sample_len, total = index.Samples(split);
  for (int64_t id : ids) {
    if (id < 0 || id >= total) {
      return absl::OutOfRangeError(fmt::format("{}: split '{}' has no sample {} ({} samples)",
                                               store.uri(), split, id, total));
    }
  }
  std::vector<uint16_t> out(ids.size() * len);
  int64_t start = 0;  // first id of the shard at hand
  for (const ShardInfo& shard : index.shards) {
    if (shard.split != split) continue;
    std::string bytes;  // read only if some id lives here
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < start || ids[i] >= start + shard.samples) continue;
      if (bytes.empty()) {
        MT_ASSIGN_OR_RETURN(bytes, ReadShard(store, shard, 0, TokensOf(index)));
        if (on_read) on_read(shard);
      }
      std::memcpy(out.data() + i * len, bytes.data() + (ids[i] - start) * len * 2, len * 2);
    }
    start += shard.samples;
  }
  return out;
}

absl::StatusOr<Dataset> Dataset::Open(storage::BlobStore& store) {
  Dataset ds;
  MT_ASSIGN_OR_RETURN(ds.index_, OpenIndex(store));
  for (const ShardInfo& shard : ds.index_.shards) {
    MT_ASSIGN_OR_RETURN(std::string bytes, ReadShard(store, shard, 0, TokensOf(ds.index_)));
    std::vector<uint16_t>& all = ds.tokens_[shard.split];
    const size_t old = all.size();
    all.resize(old + bytes.size() / 2);
    std::memcpy(all.data() + old, bytes.data(), bytes.size());
  }
  return ds;
}

namespace {

// The whole blob, in ranged GETs of part_bytes (one GET when part_bytes <= 0).
absl::StatusOr<std::string> GetInParts(storage::BlobStore& store, const ShardInfo& shard,
                                       int64_t part_bytes) {
  if (part_bytes <= 0 || shard.bytes <= part_bytes) return store.Get(shard.name);
  std::string bytes;
  bytes.reserve(shard.bytes);
  for (int64_t offset = 0; offset < shard.bytes; offset += part_bytes) {
    MT_ASSIGN_OR_RETURN(std::string part, store.Get(shard.name, offset, part_bytes));
    bytes += part;
    if (static_cast<int64_t>(part.size()) < part_bytes) break;  // the blob ended early
  }
  return bytes;
}

}  // namespace

absl::StatusOr<std::string> ReadShard(storage::BlobStore& store, const ShardInfo& shard,
                                      int64_t part_bytes, TokenCheck tokens) {
  const std::string where = store.uri() + "/" + shard.name;
  auto got = GetInParts(store, shard, part_bytes);
  if (!got.ok() && got.status().code() == absl::StatusCode::kOutOfRange) {
    return absl::DataLossError(
        fmt::format("{}: shorter than the {} bytes the index says", where, shard.bytes));
  }
  MT_RETURN_IF_ERROR(got.status());
  std::string bytes = std::move(*got);
  if (static_cast<int64_t>(bytes.size()) != shard.bytes) {
    return absl::DataLossError(
        fmt::format("{}: {} bytes, index says {}", where, bytes.size(), shard.bytes));
  }
  const std::string sum = Xxh64Hex(bytes.data(), bytes.size());
  if (sum != shard.xxh64) {
    return absl::DataLossError(
        fmt::format("{}: checksum mismatch (xxh64 {}, index says {})", where, sum, shard.xxh64));
  }
  if (tokens.vocab_size > 0) {
    const size_t n = bytes.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      uint16_t id;
      std::memcpy(&id, bytes.data() + 2 * i, 2);
      if (id < tokens.vocab_size) continue;
      const int64_t len = std::max<int64_t>(1, tokens.sample_len);
      return absl::DataLossError(fmt::format(
          "{}: sample {} has token id {} at position {}, outside the vocabulary [0, {}) of the "
          "index",
          where, static_cast<int64_t>(i) / len, id, static_cast<int64_t>(i) % len,
          tokens.vocab_size));
    }
  }
  return bytes;
}

absl::Status CopyDataset(storage::BlobStore& from, storage::BlobStore& to) {
  MT_ASSIGN_OR_RETURN(std::string text, from.Get(kIndexName));
  MT_ASSIGN_OR_RETURN(DatasetIndex index, IndexFromJson(text, from.uri() + "/" + kIndexName));
  // Shards first (each verified), the index last: until it lands, the copy does not exist.
  for (const ShardInfo& shard : index.shards) {
    MT_ASSIGN_OR_RETURN(std::string bytes, ReadShard(from, shard, 0, TokensOf(index)));
    MT_RETURN_IF_ERROR(to.Put(shard.name, bytes));
  }
  return to.Put(kIndexName, text);
}

void Dataset::Sample(const std::string& split, int64_t i, int32_t* out) const {
  const std::vector<uint16_t>& all = tokens_.at(split);
  const uint16_t* src = all.data() + i * index_.sample_len;
  MT_CHECK(i >= 0 && (i + 1) * index_.sample_len <= static_cast<int64_t>(all.size()));
  for (int64_t t = 0; t < index_.sample_len; ++t) out[t] = src[t];
}

absl::StatusOr<std::string> Fingerprint(const std::string& uri) {
  MT_ASSIGN_OR_RETURN(auto store, storage::OpenBlobStore(uri));
  MT_ASSIGN_OR_RETURN(DatasetIndex index, OpenIndex(*store));
  const std::string text = IndexToJson(index);
  return fmt::format("{}#xxh64:{}", uri, Xxh64Hex(text.data(), text.size()));
}

}  // namespace mt::data
