// The loaders behind OpenTokenizer (tokenizer.h), one per file format. Internal to
// runtime/tokenizer except for the tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::tok {

// A tiktoken encoding: what its rank file does not hold.
struct TiktokenEncoding {
  std::string pattern;
  std::vector<SpecialToken> specials;  // <|endoftext|> first
  int64_t vocab_size = 0;              // tiktoken's explicit n_vocab
};
std::optional<TiktokenEncoding> FindTiktokenEncoding(std::string_view name);

// `encoding` "" takes the encoding from the file's name (cl100k_base.tiktoken).
absl::StatusOr<std::unique_ptr<Tokenizer>> OpenTiktoken(const std::string& encoding,
                                                        const std::string& file);
// DIR/encoder.json + DIR/vocab.bpe.
absl::StatusOr<std::unique_ptr<Tokenizer>> OpenGpt2Files(const std::string& dir);
// A tokenizer.json, or a directory holding one.
absl::StatusOr<std::unique_ptr<Tokenizer>> OpenHfTokenizerJson(const std::string& path);
absl::StatusOr<std::unique_ptr<Tokenizer>> OpenSentencePiece(const std::string& file);
std::unique_ptr<Tokenizer> MakeByteTokenizer();

}  // namespace mt::tok
