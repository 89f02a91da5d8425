// Merge-list BPE models (see byte_level_bpe.h).
#include "runtime/tokenizer/byte_level_bpe.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "fmt/format.h"
#include "runtime/tokenizer/byte_level.h"

namespace mt::tok {

absl::StatusOr<BpeModel> ByteLevelModel(
    const nlohmann::json& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
    const std::vector<std::string>& skip, const std::string& source) {
  if (!vocab.is_object() || vocab.empty()) {
    return absl::DataLossError(fmt::format("{}: the vocabulary is not a non-empty object", source));
  }
  BpeModel m;
  m.rule = MergeRule::kPairRanks;
  absl::flat_hash_map<std::string, int32_t> by_string;
  for (const auto& [token, id_json] : vocab.items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 ||
        id_json.get<int64_t>() > (1 << 30)) {
      return absl::DataLossError(
          fmt::format("{}: token {:?}: id is not a non-negative integer", source, token));
    }
    const auto id = id_json.get<int32_t>();
    if (std::find(skip.begin(), skip.end(), token) != skip.end()) continue;
    auto bytes = ByteLevelDecode(token);
    if (!bytes || bytes->empty()) {
      return absl::DataLossError(
          fmt::format("{}: token {:?} is not in GPT-2's byte-level alphabet (not a byte-level BPE)",
                      source, token));
    }
    if (static_cast<int32_t>(m.bytes.size()) <= id) m.bytes.resize(id + 1);
    if (!m.bytes[id].empty()) {
      return absl::DataLossError(fmt::format("{}: id {} is given to two tokens", source, id));
    }
    m.bytes[id] = *bytes;
    m.ids.emplace(std::move(*bytes), id);
    by_string.emplace(token, id);
  }
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [l, r] = merges[rank];
    auto a = by_string.find(l), b = by_string.find(r), ab = by_string.find(l + r);
    if (a == by_string.end() || b == by_string.end() || ab == by_string.end()) {
      return absl::DataLossError(
          fmt::format("{}: merge {} ({:?} {:?}) names a token the vocabulary does not have", source,
                      rank + 1, l, r));
    }
    // A pair listed twice keeps its first (lowest) rank, as HF's loader does.
    m.merges.emplace(BpeModel::PairKey(a->second, b->second),
                     (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(ab->second));
  }
  if (absl::Status s = m.IndexBytes(); !s.ok()) {
    return absl::DataLossError(fmt::format("{}: {}", source, std::string(s.message())));
  }
  return m;
}

}  // namespace mt::tok
