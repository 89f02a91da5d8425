// The dataset format (DESIGN §3): a directory (or blob prefix) holding `index.json` and binary
// shards of fixed-length token samples.
//
// index.json: {"format": "meshtrain.dataset", "version": 1, "tokenizer": "byte",
//   "vocab_size": 256, "sample_len": 65, "token_dtype": "uint16",
//   "answer": {"begin": 61, "end": 10},            // optional: exact-match spans for eval
//   "pad": 0,                                      // optional: filler token, never a target
//   "shards": [{"name": "train-00000.bin", "split": "train", "samples": 4096,
//               "bytes": 532480, "xxh64": "89ab..."}, ...]}
// A shard is samples * sample_len little-endian uint16 tokens. sample_len is the model's
// seq_len + 1 (inputs and next-token targets come from one sample).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/core/hash.h"

namespace mt::data {

inline constexpr int kFormatVersion = 1;
inline constexpr char kIndexName[] = "index.json";

struct ShardInfo {
  std::string name;
  std::string split;  // "train" or "eval"
  int64_t samples = 0;
  int64_t bytes = 0;
  std::string xxh64;  // 16 hex digits of the shard's XXH64 (seed 0)
};

struct AnswerSpans {
  int32_t begin = 0;  // token that ends the prompt ("=")
  int32_t end = 0;    // token that ends the answer ("\n"), part of the answer
};

struct DatasetIndex {
  std::string tokenizer = "byte";
  int64_t vocab_size = 0;
  int64_t sample_len = 0;
  std::optional<AnswerSpans> answer;
  std::optional<int32_t> pad;
  // Optional "provenance" object (JSON text, kept as written): the tokenizer (spec, kind,
  // vocabulary, special ids) and the sources (name, bytes, xxh64) a text dataset came from,
  // and what its preparation counted. Readers need nothing from it; `data inspect` shows it.
  std::string provenance;
  std::vector<ShardInfo> shards;

  int64_t Samples(const std::string& split) const;
};

std::string IndexToJson(const DatasetIndex& index);
// Parses and checks index.json; errors name `source` and the offending field.
absl::StatusOr<DatasetIndex> IndexFromJson(const std::string& text, const std::string& source);

// What ReadShard (dataset.h) checks inside a shard: every token id in [0, vocab_size) (an id
// outside it would train as a zero embedding and drop out of the loss, silently). vocab_size 0:
// not.
struct TokenCheck {
  int64_t vocab_size = 0;
  int64_t sample_len = 1;
};
inline TokenCheck TokensOf(const DatasetIndex& index) {
  return {index.vocab_size, index.sample_len};
}

}  // namespace mt::data
