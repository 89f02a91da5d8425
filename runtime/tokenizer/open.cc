// OpenTokenizer: a spec to its loader (see tokenizer.h).
#include <filesystem>

#include "fmt/format.h"
#include "runtime/tokenizer/loaders.h"

namespace mt::tok {

std::optional<int32_t> Tokenizer::SpecialId(std::string_view text) const {
  for (const SpecialToken& s : specials_) {
    if (s.text == text) return s.id;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> OpenTokenizer(const std::string& spec) {
  if (spec == "byte") return MakeByteTokenizer();
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (colon == std::string::npos || rest.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("tokenizer '{}': expected byte, gpt2:DIR, tiktoken:[ENCODING:]FILE, hf:PATH or "
                    "sentencepiece:FILE",
                    spec));
  }
  if (kind != "gpt2" && kind != "hf" && kind != "sentencepiece" && kind != "tiktoken") {
    return absl::InvalidArgumentError(fmt::format(
        "tokenizer '{}': unknown kind '{}' (byte, gpt2, tiktoken, hf, sentencepiece)", spec, kind));
  }
  if (kind != "tiktoken" && !std::filesystem::exists(rest)) {
    return absl::NotFoundError(fmt::format("tokenizer '{}': {} does not exist", spec, rest));
  }
  if (kind == "gpt2") return OpenGpt2Files(rest);
  if (kind == "hf") return OpenHfTokenizerJson(rest);
  if (kind == "sentencepiece") return OpenSentencePiece(rest);
  {
    // tiktoken:ENCODING:FILE when the part before a second colon names an encoding.
    const size_t second = rest.find(':');
    std::string encoding, file = rest;
    if (second != std::string::npos && FindTiktokenEncoding(rest.substr(0, second))) {
      encoding = rest.substr(0, second);
      file = rest.substr(second + 1);
    }
    if (!std::filesystem::exists(file)) {
      return absl::NotFoundError(fmt::format("tokenizer '{}': {} does not exist", spec, file));
    }
    return OpenTiktoken(encoding, file);
  }
}

}  // namespace mt::tok
