// Encoder speed, one thread: our tokenizers against npm tiktoken (tiktoken's Rust core as WASM,
// what a Node or browser user runs; `encode_ordinary`, no special-token scan) on the same text
// in the same run. The text is tests/support/text_corpus.h's varied corpus (prose, code, many
// scripts), repeated to --mb. Prints a table and, with --json FILE, JSON.
//   tokenizer_bench --files DIR [--mb 8] [--json FILE]
// DIR holds the reference files (`node tests/support/tokenizer_ref.mjs files DIR`).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/support/text_corpus.h"

namespace {

using json = nlohmann::json;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// npm tiktoken's rate on `text_file`: {"tokens", "seconds", "bytes"}.
json Tiktoken(const std::string& encoding, const std::string& text_file) {
  const std::string cmd = fmt::format("node {}/tests/support/tokenizer_ref.mjs bench {} {} {}",
                                      MT_SOURCE_DIR, encoding, text_file, text_file);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof(buf), p)) out += buf;
  if (p) pclose(p);
  return json::parse(out, nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tokenizer encode rate against npm tiktoken"};
  std::string files, json_path;
  int mb = 8;
  app.add_option("--files", files, "Reference files (tokenizer_ref.mjs files DIR)")->required();
  app.add_option("--mb", mb, "Text size in MiB")->check(CLI::Range(1, 1024));
  app.add_option("--json", json_path, "Write the results as JSON");
  CLI11_PARSE(app, argc, argv);

  const std::string one = mt::testing::VariedCorpus(MT_SOURCE_DIR, 1200 * 1024, 7);
  std::string text;
  while (text.size() < static_cast<size_t>(mb) << 20) text += one;
  const std::string text_file = files + "/bench-text.txt";
  std::ofstream(text_file, std::ios::binary) << text;

  json rows = json::array();
  std::printf("%-12s %-14s %10s %12s %12s %8s\n", "encoding", "engine", "MB", "tokens", "tokens/s",
              "vs tiktoken");
  struct Case {
    const char* name;
    std::string spec;
  };
  for (const Case& c : {Case{"gpt2", "tiktoken:" + files + "/gpt2.tiktoken"},
                        Case{"cl100k_base", "tiktoken:" + files + "/cl100k_base.tiktoken"},
                        Case{"o200k_base", "tiktoken:" + files + "/o200k_base.tiktoken"}}) {
    auto tok = mt::tok::OpenTokenizer(c.spec);
    if (!tok.ok()) {
      std::fprintf(stderr, "%s\n", std::string(tok.status().message()).c_str());
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const size_t n = (*tok)->Encode(text, /*specials=*/false).size();
    const double ours_s = Seconds(t0);
    const json ref = Tiktoken(c.name, text_file);
    const double ref_rate =
        ref.is_object() ? ref["tokens"].get<double>() / ref["seconds"].get<double>() : 0;
    const double rate = n / ours_s;
    const double mbytes = text.size() / 1e6;
    std::printf("%-12s %-14s %10.1f %12zu %12.0f %8.2fx\n", c.name, "meshtrain", mbytes, n, rate,
                ref_rate > 0 ? rate / ref_rate : 0);
    if (ref_rate > 0) {
      std::printf("%-12s %-14s %10.1f %12lld %12.0f %8s\n", c.name, "npm tiktoken", mbytes,
                  ref["tokens"].get<long long>(), ref_rate, "1.00x");
    }
    rows.push_back({{"encoding", c.name},
                    {"bytes", text.size()},
                    {"tokens", n},
                    {"tokens_per_s", rate},
                    {"tiktoken_tokens", ref.is_object() ? ref["tokens"] : json()},
                    {"tiktoken_tokens_per_s", ref_rate},
                    {"speedup", ref_rate > 0 ? rate / ref_rate : 0}});
  }
  std::remove(text_file.c_str());
  if (!json_path.empty()) {
    json out = {{"bench", "tokenizer"}, {"run", mt::bench::RunInfo()}, {"results", rows}};
    std::ofstream(json_path) << out.dump(2) << "\n";
  }
  return 0;
}
