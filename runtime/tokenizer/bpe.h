// Byte-pair merging (DESIGN §3, "Tokenizers"): one piece of text (the pre-tokenizer's output)
// to token ids. Two merge rules, because the formats differ where they could disagree:
// - kRankOfBytes (tiktoken): two adjacent parts merge when their concatenated bytes are a
//   token; its id is its rank, lower ranks first.
// - kPairRanks (GPT-2's vocab.bpe, HF tokenizer.json): only the listed merges (left, right)
//   apply, in list order; a concatenation that is a token but no listed merge stays apart.
// Both take the lowest-ranked merge, the leftmost on ties, until none applies: tiktoken's
// byte_pair_merge and HF's Word::merge_all give the same sequence that way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace mt::tok {

// Debian's Abseil has its own string_view: the maps take keys as that.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

enum class MergeRule { kRankOfBytes, kPairRanks };

struct BpeModel {
  MergeRule rule = MergeRule::kRankOfBytes;
  std::vector<std::string> bytes;                  // id -> its bytes ("" for no token)
  absl::flat_hash_map<std::string, int32_t> ids;   // bytes -> id
  int32_t byte_ids[256] = {};                      // each single byte's id
  absl::flat_hash_map<uint64_t, uint64_t> merges;  // kPairRanks: (l, r) -> (rank, id)
  // A piece that is itself a token is that token without merging (tiktoken always; HF with
  // model.ignore_merges).
  bool whole_piece_first = true;

  // Fills byte_ids from `ids`; FailedPrecondition naming the first byte without a token.
  absl::Status IndexBytes();
  // Appends the ids of `piece` (not empty) to `out`.
  void Encode(std::string_view piece, std::vector<int32_t>& out) const;

  static uint64_t PairKey(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
};

}  // namespace mt::tok
