// Datasets from users' text (`meshtrain data prepare --from ... --tokenizer ...`): documents
// read from local files (paths or globs), tokenised with a runtime/tokenizer spec, joined with
// EOS and packed into samples of sample_len tokens (pretraining packing). The last partial
// sample of each split is dropped and counted. Documents go to the eval split by a hash of
// (seed, document number), so the held-out set is whole documents, the same for the same
// inputs and seed. Memory is bounded by one file plus one shard per split.
//
// Formats: `text` (a file is a document, or documents are separated by doc_sep) and `jsonl`
// (one JSON object per line, the document in `field`). Bad input (a line that is not JSON, a
// missing or non-string field, an empty document) is InvalidArgument naming file:line, or
// counted and skipped with skip_invalid. The shards are the uint16 format (index.h): a
// tokenizer whose vocabulary exceeds 65,536 is refused until the wider format lands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::data {

struct TextOptions {
  std::vector<std::string> from;  // files or globs
  std::string format = "text";    // text | jsonl
  std::string doc_sep;            // text: "" = a file is one document
  std::string field = "text";     // jsonl
  std::string tokenizer;          // a runtime/tokenizer spec
  int64_t sample_len = 0;         // model seq_len + 1
  double eval_fraction = 0.01;
  uint64_t seed = 1;
  int64_t samples_per_shard = 4096;
  bool skip_invalid = false;
};

struct TextStats {
  int64_t files = 0, bytes = 0;
  int64_t documents = 0, eval_documents = 0, skipped = 0;
  int64_t tokens = 0;  // EOS included
  int64_t train_samples = 0, eval_samples = 0;
  int64_t dropped_tokens = 0;  // the partial last sample of each split
};

// Writes the dataset into `dir` (created when missing). Errors name the flag, file or line.
absl::StatusOr<TextStats> WriteTextDataset(const std::string& dir, const TextOptions& options);

}  // namespace mt::data
