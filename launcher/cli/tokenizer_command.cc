// `meshtrain tokenizer encode|decode|info --tokenizer SPEC`: the runtime's tokenizers on the
// command line, for users checking what a corpus becomes and for tests comparing against
// reference encoders. encode: stdin text -> ids (space-separated, or a JSON array with
// --json); decode: ids (whitespace- or comma-separated, JSON brackets allowed) -> text.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/job_setup.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::cli {
namespace {

struct TokenizerArgs {
  std::string spec;
  bool json = false;
  bool plain = false;  // --no-specials
};

std::string ReadStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// Ids as text: digits separated by anything of " \t\r\n,[]". InvalidArgument naming the
// offending text.
absl::StatusOr<std::vector<int32_t>> ParseIds(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == '[' || c == ']') {
      ++i;
      continue;
    }
    size_t j = i + (c == '-' ? 1 : 0);
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    const std::string word = text.substr(i, j - i);
    if (j == i || word == "-" || (j < text.size() && !std::strchr(" \t\r\n,[]", text[j]))) {
      return absl::InvalidArgumentError(
          fmt::format("stdin: expected token ids, found {:?} at byte {}",
                      text.substr(i, std::min<size_t>(20, text.size() - i)), i));
    }
    ids.push_back(static_cast<int32_t>(std::stoll(word)));
    i = j;
  }
  return ids;
}

int Encode(const tok::Tokenizer& t, const TokenizerArgs& a) {
  const std::vector<int32_t> ids = t.Encode(ReadStdin(), !a.plain);
  std::string out = a.json ? "[" : "";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += a.json ? "," : " ";
    out += std::to_string(ids[i]);
  }
  out += a.json ? "]\n" : "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

int Decode(const tok::Tokenizer& t) {
  auto ids = ParseIds(ReadStdin());
  if (!ids.ok()) return Fail("meshtrain tokenizer decode", ids.status(), kExitInvalid);
  auto text = t.Decode(*ids);
  if (!text.ok()) return Fail("meshtrain tokenizer decode", text.status(), kExitInvalid);
  std::fwrite(text->data(), 1, text->size(), stdout);
  return kExitOk;
}

int Info(const tok::Tokenizer& t) {
  std::printf("kind        %s\nvocab_size  %lld\nlossless    %s\n", t.kind().c_str(),
              static_cast<long long>(t.vocab_size()), t.lossless() ? "yes" : "no");
  auto role = [](const char* name, const std::optional<int32_t>& id) {
    if (id) std::printf("%-11s %d\n", name, *id);
  };
  role("bos", t.special_ids().bos);
  role("eos", t.special_ids().eos);
  role("pad", t.special_ids().pad);
  std::printf("specials    %zu\n", t.special_tokens().size());
  for (size_t i = 0; i < t.special_tokens().size() && i < 20; ++i) {
    std::printf("  %-9d %s\n", t.special_tokens()[i].id, t.special_tokens()[i].text.c_str());
  }
  return kExitOk;
}

}  // namespace

Command AddTokenizerCommand(CLI::App& root) {
  auto args = std::make_shared<TokenizerArgs>();
  CLI::App* app = root.add_subcommand("tokenizer", "Encode and decode text with a tokenizer");
  app->require_subcommand(1);
  app->footer(
      "SPEC: byte | gpt2:DIR (encoder.json + vocab.bpe) | tiktoken:[ENCODING:]FILE | hf:PATH "
      "(tokenizer.json) | sentencepiece:FILE (see docs/tokenizers.md).");
  CLI::App* encode = app->add_subcommand("encode", "stdin text -> token ids on stdout");
  CLI::App* decode = app->add_subcommand("decode", "token ids on stdin -> text on stdout");
  CLI::App* info = app->add_subcommand("info", "Kind, vocabulary size and special tokens");
  for (CLI::App* sub : {encode, decode, info}) {
    sub->add_option("--tokenizer", args->spec, "The tokenizer (SPEC)")->required();
  }
  encode->add_flag("--json", args->json, "Print the ids as a JSON array");
  encode->add_flag("--no-specials", args->plain,
                   "Encode special-token text (<|endoftext|>) as ordinary text");
  return Command{app, [args, encode, decode] {
                   auto t = tok::OpenTokenizer(args->spec);
                   if (!t.ok()) {
                     return Fail("meshtrain tokenizer", t.status(), kExitInvalid);
                   }
                   if (*encode) return Encode(**t, *args);
                   if (*decode) return Decode(**t);
                   return Info(**t);
                 }};
}

}  // namespace mt::cli
