// The byte-level BPE tokenizers (GPT-2 files, tiktoken, HF tokenizer.json): special tokens
// first, then the split pattern, then byte-pair merging of each piece. The loaders (tiktoken.cc,
// gpt2_files.cc, hf_json.cc) fill a BpeParts; this class only runs it.
#pragma once

#include <memory>
#include <string>

#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/specials.h"
#include "runtime/tokenizer/split.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::tok {

struct BpeParts {
  std::string kind;
  BpeModel model;
  std::unique_ptr<SplitPattern> split;  // null: each text segment is one piece
  std::vector<SpecialToken> specials;
  SpecialIds ids;
  int64_t vocab_size = 0;     // 0: one past the largest id
  bool prefix_space = false;  // HF ByteLevel add_prefix_space: " " before a segment without one
};

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeParts parts);
  std::string kind() const override { return p_.kind; }
  int64_t vocab_size() const override { return p_.vocab_size; }
  std::vector<int32_t> Encode(std::string_view text, bool specials) const override;
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const override;
  bool lossless() const override { return !p_.prefix_space; }

 private:
  void EncodeText(std::string_view text, std::vector<int32_t>& out) const;
  BpeParts p_;
  SpecialMatcher matcher_;
  std::vector<std::string> special_text_;  // id -> text for special ids, else ""
};

}  // namespace mt::tok
