// In-memory dataset reader (see dataset.h).
#include "runtime/data/dataset.h"

#include <cstring>

#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"

namespace mt::data {

absl::StatusOr<std::string> LocalPath(const std::string& uri) {
  const size_t sep = uri.find("://");
  if (sep == std::string::npos) return uri;
  if (uri.compare(0, sep, "file") == 0) return uri.substr(sep + 3);
  return absl::UnimplementedError(
      fmt::format("{}: scheme '{}' is not readable by this build yet (file:// and plain paths are)",
                  uri, uri.substr(0, sep)));
}

absl::StatusOr<Dataset> Dataset::Open(const std::string& uri) {
  MT_ASSIGN_OR_RETURN(std::string dir, LocalPath(uri));
  auto text = ReadFile(dir + "/" + kIndexName);
  if (!text.ok()) {
    return absl::NotFoundError(
        fmt::format("{}: no dataset here ({}); create one with `meshtrain data prepare`", uri,
                    std::string(text.status().message())));
  }
  Dataset ds;
  MT_ASSIGN_OR_RETURN(ds.index_, IndexFromJson(*text, dir + "/" + kIndexName));
  for (const ShardInfo& shard : ds.index_.shards) {
    const std::string path = dir + "/" + shard.name;
    MT_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
    if (static_cast<int64_t>(bytes.size()) != shard.bytes) {
      return absl::DataLossError(
          fmt::format("{}: {} bytes, index says {}", path, bytes.size(), shard.bytes));
    }
    const std::string sum = Xxh64Hex(bytes.data(), bytes.size());
    if (sum != shard.xxh64) {
      return absl::DataLossError(
          fmt::format("{}: checksum mismatch (xxh64 {}, index says {})", path, sum, shard.xxh64));
    }
    std::vector<uint16_t>& all = ds.tokens_[shard.split];
    const size_t old = all.size();
    all.resize(old + bytes.size() / 2);
    std::memcpy(all.data() + old, bytes.data(), bytes.size());
  }
  return ds;
}

void Dataset::Sample(const std::string& split, int64_t i, int32_t* out) const {
  const std::vector<uint16_t>& all = tokens_.at(split);
  const uint16_t* src = all.data() + i * index_.sample_len;
  MT_CHECK(i >= 0 && (i + 1) * index_.sample_len <= static_cast<int64_t>(all.size()));
  for (int64_t t = 0; t < index_.sample_len; ++t) out[t] = src[t];
}

}  // namespace mt::data
