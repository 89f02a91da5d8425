// In-memory dataset reader (see dataset.h).
#include "runtime/data/dataset.h"

#include <cstring>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::data {

absl::StatusOr<Dataset> Dataset::Open(const std::string& uri) {
  MT_ASSIGN_OR_RETURN(auto store, storage::OpenBlobStore(uri));
  return Open(*store);
}

absl::StatusOr<Dataset> Dataset::Open(storage::BlobStore& store) {
  const std::string& uri = store.uri();
  auto text = store.Get(kIndexName);
  if (!text.ok()) {
    if (text.status().code() != absl::StatusCode::kNotFound) return text.status();
    return absl::NotFoundError(
        fmt::format("{}: no dataset here ({}); create one with `meshtrain data prepare`", uri,
                    std::string(text.status().message())));
  }
  Dataset ds;
  MT_ASSIGN_OR_RETURN(ds.index_, IndexFromJson(*text, uri + "/" + kIndexName));
  for (const ShardInfo& shard : ds.index_.shards) {
    MT_ASSIGN_OR_RETURN(std::string bytes, ReadShard(store, shard));
    std::vector<uint16_t>& all = ds.tokens_[shard.split];
    const size_t old = all.size();
    all.resize(old + bytes.size() / 2);
    std::memcpy(all.data() + old, bytes.data(), bytes.size());
  }
  return ds;
}

absl::StatusOr<std::string> ReadShard(storage::BlobStore& store, const ShardInfo& shard) {
  const std::string where = store.uri() + "/" + shard.name;
  MT_ASSIGN_OR_RETURN(std::string bytes, store.Get(shard.name));
  if (static_cast<int64_t>(bytes.size()) != shard.bytes) {
    return absl::DataLossError(
        fmt::format("{}: {} bytes, index says {}", where, bytes.size(), shard.bytes));
  }
  const std::string sum = Xxh64Hex(bytes.data(), bytes.size());
  if (sum != shard.xxh64) {
    return absl::DataLossError(
        fmt::format("{}: checksum mismatch (xxh64 {}, index says {})", where, sum, shard.xxh64));
  }
  return bytes;
}

absl::Status CopyDataset(storage::BlobStore& from, storage::BlobStore& to) {
  MT_ASSIGN_OR_RETURN(std::string text, from.Get(kIndexName));
  MT_ASSIGN_OR_RETURN(DatasetIndex index, IndexFromJson(text, from.uri() + "/" + kIndexName));
  // Shards first (each verified), the index last: until it lands, the copy does not exist.
  for (const ShardInfo& shard : index.shards) {
    MT_ASSIGN_OR_RETURN(std::string bytes, ReadShard(from, shard));
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

}  // namespace mt::data
