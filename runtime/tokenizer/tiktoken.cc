// tiktoken rank files (tiktoken:FILE, tiktoken:ENCODING:FILE): one "BASE64 RANK" line per
// token, as OpenAI publishes them (cl100k_base.tiktoken, ...). The split pattern and special
// tokens are not in the file: they belong to the encoding, and are tiktoken's own
// (tiktoken_ext/openai_public.py), checked against npm tiktoken's copies by the tests.
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/loaders.h"

namespace mt::tok {
namespace {

constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr char kCl100kPattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kO200kPattern[] =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

std::optional<TiktokenEncoding> FindTiktokenEncoding(std::string_view name) {
  const std::vector<SpecialToken> eot50k = {{"<|endoftext|>", 50256}};
  if (name == "gpt2" || name == "r50k_base") return TiktokenEncoding{kGpt2Pattern, eot50k, 50257};
  if (name == "p50k_base") return TiktokenEncoding{kGpt2Pattern, eot50k, 50281};
  if (name == "cl100k_base") {
    return TiktokenEncoding{kCl100kPattern,
                            {{"<|endoftext|>", 100257},
                             {"<|fim_prefix|>", 100258},
                             {"<|fim_middle|>", 100259},
                             {"<|fim_suffix|>", 100260},
                             {"<|endofprompt|>", 100276}},
                            100277};
  }
  if (name == "o200k_base") {
    return TiktokenEncoding{
        kO200kPattern, {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}, 200019};
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> OpenTiktoken(const std::string& encoding_name,
                                                        const std::string& file) {
  std::string name = encoding_name;
  if (name.empty()) name = std::filesystem::path(file).stem().string();
  auto encoding = FindTiktokenEncoding(name);
  if (!encoding) {
    return absl::InvalidArgumentError(fmt::format(
        "tiktoken:{}: unknown encoding '{}' (known: gpt2, r50k_base, p50k_base, cl100k_base, "
        "o200k_base; name it as tiktoken:ENCODING:FILE)",
        file, name));
  }
  MT_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  BpeParts p;
  p.kind = "tiktoken";
  p.model.rule = MergeRule::kRankOfBytes;
  p.model.whole_piece_first = true;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    std::string bytes;
    int32_t rank = -1;
    if (f.size() != 2 || !absl::Base64Unescape(f[0], &bytes) || bytes.empty() ||
        !absl::SimpleAtoi(f[1], &rank) || rank < 0 || rank >= encoding->vocab_size) {
      return absl::DataLossError(
          fmt::format("{}:{}: expected 'BASE64 RANK' with a rank below {} (a tiktoken rank file)",
                      file, line_no, encoding->vocab_size));
    }
    if (!p.model.ids.emplace(bytes, rank).second) {
      return absl::DataLossError(fmt::format("{}:{}: token listed twice", file, line_no));
    }
    if (static_cast<int32_t>(p.model.bytes.size()) <= rank) p.model.bytes.resize(rank + 1);
    if (!p.model.bytes[rank].empty()) {
      return absl::DataLossError(fmt::format("{}:{}: rank {} listed twice", file, line_no, rank));
    }
    p.model.bytes[rank] = std::move(bytes);
  }
  if (absl::Status s = p.model.IndexBytes(); !s.ok()) {
    return absl::DataLossError(fmt::format("{}: {}", file, std::string(s.message())));
  }
  MT_ASSIGN_OR_RETURN(p.split, SplitPattern::Compile(encoding->pattern));
  p.specials = encoding->specials;
  p.ids.eos = p.specials.front().id;  // <|endoftext|>
  p.vocab_size = encoding->vocab_size;
  return std::make_unique<BpeTokenizer>(std::move(p));
}

}  // namespace mt::tok
