// A merge-list BPE model (MergeRule::kPairRanks) from a byte-level vocabulary and merge list:
// what GPT-2's encoder.json + vocab.bpe and HF tokenizer.json both hold.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/bpe.h"

namespace mt::tok {

// `vocab`: a JSON object of token string (byte-level alphabet) -> id; `merges` in rank order.
// Tokens in `skip` (added/special tokens) are left out of the model. DataLoss naming `source`
// for an id that repeats, a token outside the alphabet, or a merge of unknown tokens.
absl::StatusOr<BpeModel> ByteLevelModel(
    const nlohmann::json& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
    const std::vector<std::string>& skip, const std::string& source);

}  // namespace mt::tok
