// Tokenizers (DESIGN §3, "Data"): text to token ids and back, one interface for every format
// users bring: GPT-2's encoder.json + vocab.bpe, tiktoken rank files, Hugging Face
// tokenizer.json (byte-level BPE), SentencePiece models, and meshtrain's `byte`.
//
// Contracts every implementation keeps:
// - Encode never fails: any byte string (invalid UTF-8 included) encodes; byte-level formats
//   encode invalid bytes as their byte tokens, so Decode(Encode(x)) == x for them.
// - Special tokens (bos, eos, pad, added tokens) are matched in the text before the
//   pre-tokenizer runs and are never split, when `specials` is true (HF's behaviour); with
//   false their text encodes as ordinary text (what a corpus's content needs: a document that
//   quotes "<|endoftext|>" must not end itself).
// - Decode fails only for ids outside [0, vocab_size()) and names the id and its position.
// - Thread safety: a const Tokenizer may be used from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::tok {

// The roles a training pipeline needs; ids are in [0, vocab_size).
struct SpecialIds {
  std::optional<int32_t> bos, eos, pad;
};

// One special (added) token: its text and id.
struct SpecialToken {
  std::string text;
  int32_t id = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "byte", "gpt2", "tiktoken", "hf-bpe", "sentencepiece".
  virtual std::string kind() const = 0;
  // Every id this tokenizer can produce or decode is in [0, vocab_size()).
  virtual int64_t vocab_size() const = 0;
  virtual std::vector<int32_t> Encode(std::string_view text, bool specials = true) const = 0;
  virtual absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const = 0;
  // Whether Decode(Encode(x)) == x for every byte string x.
  virtual bool lossless() const = 0;

  const SpecialIds& special_ids() const { return ids_; }
  const std::vector<SpecialToken>& special_tokens() const { return specials_; }
  // The id of special token `text`, if it is one.
  std::optional<int32_t> SpecialId(std::string_view text) const;

 protected:
  SpecialIds ids_;
  std::vector<SpecialToken> specials_;
};

// Opens a tokenizer from a spec (docs/tokenizers.md):
//   byte                         bytes 0..255 (meshtrain's synthetic task)
//   gpt2:DIR                     DIR/encoder.json + DIR/vocab.bpe (GPT-2's own files)
//   tiktoken:FILE                a tiktoken rank file; its encoding (split pattern, special
//                                tokens) from the file name: gpt2, r50k_base, p50k_base,
//                                cl100k_base, o200k_base
//   tiktoken:ENCODING:FILE       the same with the encoding named
//   hf:PATH                      a Hugging Face tokenizer.json (or a directory holding one)
//   sentencepiece:FILE           a SentencePiece .model
// Errors (InvalidArgument, NotFound, DataLoss for a damaged file) name the file and what was
// wrong.
absl::StatusOr<std::unique_ptr<Tokenizer>> OpenTokenizer(const std::string& spec);

}  // namespace mt::tok
