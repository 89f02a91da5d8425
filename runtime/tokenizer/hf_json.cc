// Hugging Face tokenizer.json (hf:PATH), the byte-level BPE family: GPT-2, RoBERTa, Llama-3,
// Qwen, Mistral-Nemo style files. What is read:
//   model: {type: BPE, vocab, merges ("a b" strings or ["a", "b"] pairs: both spellings exist
//          in the wild, and reading only one silently gives zero merges), ignore_merges}
//   pre_tokenizer: ByteLevel {add_prefix_space, use_regex}, or a Sequence of Split {pattern:
//          {Regex | String}, behavior: Isolated} then ByteLevel {use_regex: false}
//   added_tokens: [{id, content, special}] (matched before the pre-tokenizer, never split)
//   tokenizer_config.json beside it, when there: bos_token / eos_token / pad_token
// Anything else that changes the tokens (a normalizer, byte_fallback, subword prefixes,
// lstrip / rstrip / single_word added tokens, other pre-tokenizers) is refused naming the
// field, rather than encoded differently from the reference.
#include <filesystem>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/tokenizer/bpe_tokenizer.h"
#include "runtime/tokenizer/byte_level_bpe.h"
#include "runtime/tokenizer/loaders.h"

namespace mt::tok {
namespace {

using json = nlohmann::json;

absl::Status Unsupported(const std::string& file, const std::string& field,
                         const std::string& what) {
  return absl::UnimplementedError(fmt::format(
      "{}: {}: {} (meshtrain reads byte-level BPE tokenizer.json files)", file, field, what));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Merges(const json& m,
                                                                        const std::string& file) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!m.is_array()) return absl::DataLossError(fmt::format("{}: model.merges: not a list", file));
  for (size_t i = 0; i < m.size(); ++i) {
    const json& e = m[i];
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
          s.find(' ', sp + 1) != std::string::npos) {
        return absl::DataLossError(
            fmt::format("{}: model.merges[{}]: {:?} is not 'LEFT RIGHT'", file, i, s));
      }
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      out.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      return absl::DataLossError(fmt::format(
          "{}: model.merges[{}]: expected \"LEFT RIGHT\" or [\"LEFT\", \"RIGHT\"]", file, i));
    }
  }
  return out;
}

// The pre-tokenizer as a split pattern (null: none) and add_prefix_space.
absl::Status PreTokenizer(const json& pt, const std::string& file, BpeParts& p) {
  std::string pattern;
  auto byte_level = [&](const json& b, bool alone) -> absl::Status {
    p.prefix_space = b.value("add_prefix_space", false);
    const bool regex = b.value("use_regex", true);
    if (regex && !alone) return Unsupported(file, "pre_tokenizer", "two split patterns");
    if (regex) pattern = FindTiktokenEncoding("gpt2")->pattern;  // HF ByteLevel's own
    return absl::OkStatus();
  };
  const std::string type = pt.is_object() ? pt.value("type", "") : "";
  if (type == "ByteLevel") {
    MT_RETURN_IF_ERROR(byte_level(pt, true));
  } else if (type == "Sequence" && pt.contains("pretokenizers") && pt["pretokenizers"].is_array() &&
             pt["pretokenizers"].size() == 2) {
    const json& split = pt["pretokenizers"][0];
    const json& bl = pt["pretokenizers"][1];
    if (split.value("type", "") != "Split" || bl.value("type", "") != "ByteLevel") {
      return Unsupported(file, "pre_tokenizer", "a Sequence other than [Split, ByteLevel]");
    }
    if (split.value("behavior", "") != "Isolated" || split.value("invert", false)) {
      return Unsupported(file, "pre_tokenizer.pretokenizers[0]",
                         "a Split other than behavior Isolated, invert false");
    }
    const json& pat = split.value("pattern", json::object());
    if (pat.contains("Regex") && pat["Regex"].is_string()) {
      pattern = pat["Regex"].get<std::string>();
    } else {
      return Unsupported(file, "pre_tokenizer.pretokenizers[0].pattern", "not a Regex");
    }
    MT_RETURN_IF_ERROR(byte_level(bl, false));
  } else {
    return Unsupported(file, "pre_tokenizer",
                       type.empty() ? std::string("missing") : "type " + type);
  }
  if (!pattern.empty()) {
    auto compiled = SplitPattern::Compile(pattern);
    if (!compiled.ok()) return Annotate(compiled.status(), file + ": pre_tokenizer");
    p.split = std::move(*compiled);
  }
  return absl::OkStatus();
}

// Added tokens: the specials list (all of them are matched before the pre-tokenizer).
absl::Status AddedTokens(const json& added, const std::string& file, BpeParts& p,
                         std::vector<std::string>& skip) {
  if (added.is_null()) return absl::OkStatus();
  if (!added.is_array())
    return absl::DataLossError(fmt::format("{}: added_tokens: not a list", file));
  for (size_t i = 0; i < added.size(); ++i) {
    const json& t = added[i];
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string()) {
      return absl::DataLossError(
          fmt::format("{}: added_tokens[{}]: needs an integer id and a content string", file, i));
    }
    for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
      if (t.value(flag, false)) {
        return Unsupported(file, fmt::format("added_tokens[{}].{}", i, flag), "true");
      }
    }
    p.specials.push_back({t["content"].get<std::string>(), t["id"].get<int32_t>()});
    skip.push_back(p.specials.back().text);
  }
  return absl::OkStatus();
}

// bos / eos / pad: tokenizer_config.json beside the file names them; else the usual names.
void SpecialRoles(const std::string& file, BpeParts& p) {
  json config;
  const auto dir = std::filesystem::path(file).parent_path();
  if (auto text = ReadFile((dir / "tokenizer_config.json").string()); text.ok()) {
    config = json::parse(*text, nullptr, false);
  }
  auto named = [&](const char* key) -> std::optional<std::string> {
    if (!config.is_object() || !config.contains(key)) return std::nullopt;
    const json& v = config[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) {
      return v["content"].get<std::string>();
    }
    return std::nullopt;
  };
  auto id_of = [&](const std::string& text) -> std::optional<int32_t> {
    for (const SpecialToken& s : p.specials) {
      if (s.text == text) return s.id;
    }
    return std::nullopt;
  };
  auto role = [&](const char* key, std::initializer_list<const char*> usual) {
    if (auto n = named(key)) return id_of(*n);
    for (const char* u : usual) {
      if (auto id = id_of(u)) return id;
    }
    return std::optional<int32_t>();
  };
  p.ids.bos = role("bos_token", {"<|begin_of_text|>", "<s>", "<|endoftext|>"});
  p.ids.eos = role("eos_token", {"<|end_of_text|>", "</s>", "<|endoftext|>"});
  p.ids.pad = role("pad_token", {"<pad>", "<|pad|>"});
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> OpenHfTokenizerJson(const std::string& path) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = path + "/tokenizer.json";
  MT_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(fmt::format("{}: not valid JSON (truncated?)", file));
  }
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    return Unsupported(file, "normalizer", "present");
  }
  const json& model = j.value("model", json::object());
  if (model.value("type", "BPE") != "BPE") {
    return Unsupported(file, "model.type", model.value("type", ""));
  }
  if (model.value("byte_fallback", false)) return Unsupported(file, "model.byte_fallback", "true");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(affix) && model[affix].is_string() &&
        !model[affix].get<std::string>().empty()) {
      return Unsupported(file, std::string("model.") + affix, "set");
    }
  }
  BpeParts p;
  p.kind = "hf-bpe";
  std::vector<std::string> skip;
  MT_RETURN_IF_ERROR(AddedTokens(j.value("added_tokens", json()), file, p, skip));
  MT_ASSIGN_OR_RETURN(auto merges, Merges(model.value("merges", json()), file));
  MT_ASSIGN_OR_RETURN(p.model, ByteLevelModel(model.value("vocab", json()), merges, skip, file));
  p.model.whole_piece_first = model.value("ignore_merges", false);
  MT_RETURN_IF_ERROR(PreTokenizer(j.value("pre_tokenizer", json()), file, p));
  SpecialRoles(file, p);
  return std::make_unique<BpeTokenizer>(std::move(p));
}

}  // namespace mt::tok
