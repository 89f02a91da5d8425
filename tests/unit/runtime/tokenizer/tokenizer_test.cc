// The tokenizer pieces on small hand-made files: the split pattern's rewrite, the two merge
// rules where they differ, special tokens, both tokenizer.json merge spellings, and clear
// errors for damaged or unsupported files. (Token-for-token identity with reference encoders on
// real vocabularies is tests/integration/tokenizer.)
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/byte_level.h"
#include "runtime/tokenizer/split.h"
#include "runtime/tokenizer/tokenizer.h"

namespace mt::tok {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;
using Ids = std::vector<int32_t>;

class TokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meshtrain-toku-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  // A tokenizer.json over bytes plus `extra` tokens (byte-level spelling) and `merges`.
  std::string HfJson(const std::string& name, const std::vector<std::string>& extra,
                     const json& merges, const json& added = json::array()) {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[ByteLevelChar(static_cast<unsigned char>(b))] = b;
    for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 256 + static_cast<int>(i);
    json j = {{"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
    return Write(name + "/tokenizer.json", j.dump());
  }
  std::string dir_;
};

TEST(SplitPattern, BackslashSIsUnicodeWhiteSpaceAsInRust) {
  EXPECT_EQ(ToPcre2(R"(\s+(?!\S)|\s+)"), R"([\s\x{85}]+(?![^\s\x{85}])|[\s\x{85}]+)");
  EXPECT_EQ(ToPcre2(R"( ?[^\s\p{L}\p{N}]+)"), R"( ?[^\s\x{85}\p{L}\p{N}]+)");
  EXPECT_EQ(ToPcre2(R"([\]\s])"), R"([\]\s\x{85}])");
  auto p = SplitPattern::Compile(R"( ?\p{L}+|\s+(?!\S)|\s+)");
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<std::string> pieces;
  (*p)->Split("ab  cd\xC2\x85x\xFF\xFEy", [&](std::string_view s) { pieces.emplace_back(s); });
  // U+0085 is white space; the invalid bytes FF FE are a piece of their own.
  EXPECT_THAT(pieces, ElementsAre("ab", " ", " cd", "\xC2\x85", "x", "\xFF\xFE", "y"));
  EXPECT_THAT(SplitPattern::Compile("(unclosed").status().message(), HasSubstr("offset"));
}

// A tiktoken rank file: the 256 bytes, then `extra` tokens (raw bytes) in rank order.
std::string Ranks(const std::vector<std::string>& extra) {
  std::string out;
  int rank = 0;
  for (int b = 0; b < 256; ++b) {
    out += absl::Base64Escape(std::string(1, static_cast<char>(b))) + " " + std::to_string(rank++) +
           "\n";
  }
  for (const std::string& t : extra)
    out += absl::Base64Escape(t) + " " + std::to_string(rank++) + "\n";
  return out;
}

// "abcd" with the tokens bc and abc but only the merge (b, c): tiktoken's rule (a
// concatenation that is a token merges) gives [abc, d]; the merge-list rule stops at
// [a, bc, d].
TEST_F(TokenizerFiles, TheTwoMergeRulesDifferWhereAConcatenationIsNoListedMerge) {
  auto hf = OpenTokenizer("hf:" + HfJson("hf", {"bc", "abc"}, json::array({"b c"})));
  ASSERT_TRUE(hf.ok()) << hf.status();
  EXPECT_THAT((*hf)->Encode("abcd"), ElementsAre('a', 256, 'd'));
  auto tt = OpenTokenizer("tiktoken:gpt2:" + Write("r.tiktoken", Ranks({"bc", "abc"})));
  ASSERT_TRUE(tt.ok()) << tt.status();
  EXPECT_THAT((*tt)->Encode("abcd"), ElementsAre(257, 'd'));
  EXPECT_EQ(*(*tt)->Decode(Ids{257, 'd'}), "abcd");
}

// Merges written as "a b" strings and as ["a", "b"] pairs are the same tokenizer; reading
// only one spelling would silently leave the other with no merges (bytes only).
TEST_F(TokenizerFiles, BothMergeSpellingsMergeAlike) {
  const std::vector<std::string> extra = {"he", "ll", "hell", "hello", "\xC4\xA0w", "\xC4\xA0wo"};
  const json strings = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "\xC4\xA0w o"};
  json pairs = json::array();
  for (const auto& m : strings) {
    const std::string t = m.get<std::string>();
    pairs.push_back({t.substr(0, t.find(' ')), t.substr(t.find(' ') + 1)});
  }
  auto a = OpenTokenizer("hf:" + HfJson("a", extra, strings));
  auto b = OpenTokenizer("hf:" + HfJson("b", extra, pairs));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_THAT((*a)->Encode("hello wo"), ElementsAre(259, 261));
  EXPECT_EQ((*a)->Encode("hello wo"), (*b)->Encode("hello wo"));
}

TEST_F(TokenizerFiles, SpecialTokensAreMatchedLongestFirstAndNeverSplit) {
  const json added = {{{"id", 300}, {"content", "<|a|>"}, {"special", true}},
                      {{"id", 301}, {"content", "<|a|>b"}, {"special", true}}};
  auto t = OpenTokenizer("hf:" + HfJson("s", {}, json::array(), added));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("x<|a|>b<|a|>"), ElementsAre('x', 301, 300));
  // specials=false: the text is ordinary text (a corpus quoting a special token).
  EXPECT_EQ((*t)->Encode("<|a|>", false).size(), 5u);
  EXPECT_EQ((*t)->vocab_size(), 302);
  EXPECT_EQ(*(*t)->Decode(Ids{'x', 301}), "x<|a|>b");
  EXPECT_THAT((*t)->Decode(Ids{'x', 299}).status().message(),
              HasSubstr("token id 299 at position 1 is not a token"));
  EXPECT_THAT((*t)->Decode(Ids{302}).status().message(),
              HasSubstr("outside the vocabulary [0, 302)"));
}

TEST_F(TokenizerFiles, DamagedOrUnsupportedFilesAreNamedErrors) {
  std::string ranks = Ranks({"ab"});
  auto bad = OpenTokenizer("tiktoken:cl100k_base:" + Write("bad.tiktoken", ranks + "!!! x\n"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.tiktoken:258: expected 'BASE64 RANK'"));
  auto cut = OpenTokenizer("tiktoken:cl100k_base:" +
                           Write("cut.tiktoken", ranks.substr(0, ranks.find('\n', 100) + 1)));
  EXPECT_THAT(cut.status().message(), HasSubstr("no token for byte"));
  auto unknown = OpenTokenizer("tiktoken:" + Write("mystery.tiktoken", ranks));
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown encoding 'mystery'"));
  const std::string good = HfJson("ok", {}, json::array());
  const std::string text = [&] {
    std::ifstream in(good);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }();
  auto truncated =
      OpenTokenizer("hf:" + Write("t/tokenizer.json", text.substr(0, text.size() / 2)));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(truncated.status().message(), HasSubstr("t/tokenizer.json: not valid JSON"));
  json j = json::parse(text);
  j["normalizer"] = {{"type", "NFC"}};
  auto norm = OpenTokenizer("hf:" + Write("n/tokenizer.json", j.dump()));
  EXPECT_THAT(norm.status().message(), HasSubstr("normalizer: present"));
  j = json::parse(text);
  j["model"]["merges"] = {"a b c"};
  auto merge = OpenTokenizer("hf:" + Write("m/tokenizer.json", j.dump()));
  EXPECT_THAT(merge.status().message(), HasSubstr("model.merges[0]"));
  j = json::parse(text);
  j["model"]["merges"] = {"a zz"};
  auto missing = OpenTokenizer("hf:" + Write("z/tokenizer.json", j.dump()));
  EXPECT_THAT(missing.status().message(), HasSubstr("merge 1 (\"a\" \"zz\") names a token"));
  EXPECT_EQ(OpenTokenizer("hf:" + dir_ + "/nothing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(OpenTokenizer("bpe:x").status().message(), HasSubstr("unknown kind 'bpe'"));
  EXPECT_THAT(OpenTokenizer("gpt2").status().message(), HasSubstr("expected byte, gpt2:DIR"));
  auto sp = OpenTokenizer("sentencepiece:" + Write("x.model", "not a model"));
  EXPECT_EQ(sp.status().code(), absl::StatusCode::kDataLoss);
}

TEST(ByteTokenizer, IsTheIdentityOnBytes) {
  auto t = OpenTokenizer("byte");
  ASSERT_TRUE(t.ok());
  EXPECT_THAT((*t)->Encode("a\xFF"), ElementsAre('a', 255));
  EXPECT_EQ((*t)->vocab_size(), 256);
  EXPECT_FALSE((*t)->Decode(Ids{256}).ok());
}

}  // namespace
}  // namespace mt::tok
