// Our tokenizers equal independent implementations token for token on a varied 1.2 MB corpus
// (tests/support/text_corpus.h): tiktoken's gpt2, cl100k_base and o200k_base against npm
// tiktoken (its Rust core as WASM); GPT-2's encoder.json + vocab.bpe against the same; GPT-2 as
// HF tokenizer.json in both merge spellings and in Llama-3's [Split, ByteLevel] form against
// @huggingface/tokenizers (JS). Decode(Encode(x)) == x for all of them, invalid UTF-8 included.
// The reference tools come from npm (scripts/npm-tools.sh, run by scripts/test.sh).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/loaders.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/support/text_corpus.h"

namespace mt::tok {
namespace {

namespace fs = std::filesystem;
const std::string kSource = MT_SOURCE_DIR;
const std::string kRef = kSource + "/tests/support/tokenizer_ref.mjs";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A temp dir with the reference files (made once) and the corpus.
class Reference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kSource + "/.cache/npm/node_modules/tiktoken")) return;
    char tmpl[] = "/tmp/meshtrain-tok-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    const std::string cmd = fmt::format("node {} files {}/files", kRef, *dir_);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    corpus_ = new std::string(mt::testing::VariedCorpus(kSource, 1200 * 1024, 7));
    std::ofstream(*dir_ + "/corpus.txt", std::ios::binary) << *corpus_;
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
  }
  void SetUp() override {
    ASSERT_TRUE(dir_ != nullptr) << "run scripts/npm-tools.sh (scripts/test.sh does)";
  }

  // The reference's ids for `corpus` (default: the corpus): `node tokenizer_ref.mjs ARGS...
  // TEXT OUT`.
  static std::vector<int32_t> Expected(const std::string& args,
                                       const std::string* corpus = nullptr) {
    const std::string out = *dir_ + "/expected.json", in = *dir_ + "/input.txt";
    std::ofstream(in, std::ios::binary) << (corpus ? *corpus : *corpus_);
    const std::string cmd = fmt::format("node {} {} {} {}", kRef, args, in, out);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return nlohmann::json::parse(Slurp(out)).get<std::vector<int32_t>>();
  }

  // Token-for-token equality, and the first difference with its text when there is one.
  static void ExpectSame(const Tokenizer& t, const std::vector<int32_t>& want,
                         const std::string* corpus = nullptr) {
    const std::string& text = corpus ? *corpus : *corpus_;
    const std::vector<int32_t> got = t.Encode(text);
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    if (i == got.size() && i == want.size()) {
      SUCCEED();
    } else {
      auto context = [&](const std::vector<int32_t>& ids) {
        std::vector<int32_t> around(ids.begin() + std::max<long>(0, long(i) - 4),
                                    ids.begin() + std::min(ids.size(), i + 4));
        auto s = t.Decode(around);
        return s.ok() ? nlohmann::json(*s).dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace)
                      : std::string("?");
      };
      ADD_FAILURE() << t.kind() << ": " << got.size() << " tokens, reference " << want.size()
                    << "; first difference at token " << i << ": ours " << context(got)
                    << ", reference " << context(want);
    }
    EXPECT_GT(want.size(), text.size() / 8);  // a real encoding, not bytes or nothing
    auto back = t.Decode(got);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == text) << t.kind() << ": Decode(Encode(corpus)) differs";
  }

  static std::string* dir_;
  static std::string* corpus_;
};
std::string* Reference::dir_ = nullptr;
std::string* Reference::corpus_ = nullptr;

TEST_F(Reference, TiktokenEncodingsEqualNpmTiktoken) {
  ASSERT_GE(corpus_->size(), 1024u * 1024u);
  const nlohmann::json patterns = nlohmann::json::parse(Slurp(*dir_ + "/files/patterns.json"));
  for (const char* name : {"gpt2", "cl100k_base", "o200k_base"}) {
    SCOPED_TRACE(name);
    // Our copy of the encoding's pattern and specials is tiktoken's.
    auto enc = FindTiktokenEncoding(name);
    ASSERT_TRUE(enc);
    EXPECT_EQ(enc->pattern, patterns[name]["pattern"].get<std::string>());
    for (const SpecialToken& s : enc->specials) {
      EXPECT_EQ(patterns[name]["specials"][s.text].get<int32_t>(), s.id) << s.text;
    }
    auto t = OpenTokenizer(fmt::format("tiktoken:{}/files/{}.tiktoken", *dir_, name));
    ASSERT_TRUE(t.ok()) << t.status();
    ExpectSame(**t, Expected(fmt::format("tiktoken {}", name)));
  }
}

TEST_F(Reference, Gpt2FilesAndTokenizerJsonInEverySpellingEqualTheReferences) {
  const std::vector<int32_t> gpt2 = Expected("tiktoken gpt2");
  auto files = OpenTokenizer(fmt::format("gpt2:{}/files/gpt2", *dir_));
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->vocab_size(), 50257);
  EXPECT_EQ((*files)->special_ids().eos, 50256);
  ExpectSame(**files, gpt2);
  // The JS implementation's \s is JavaScript's, which lacks U+0085 (NEXT LINE); HF's own
  // (Oniguruma) and tiktoken's (Rust) have it, and so do we. Its corpus has U+00A0 instead.
  std::string js = *corpus_;
  for (size_t at = js.find("\xC2\x85"); at != std::string::npos; at = js.find("\xC2\x85", at)) {
    js[at + 1] = '\xA0';
  }
  ExpectSame(**files, Expected("tiktoken gpt2", &js), &js);
  for (const char* variant : {"hf-strings", "hf-pairs", "hf-split"}) {
    SCOPED_TRACE(variant);
    const std::string path = fmt::format("{}/files/{}/tokenizer.json", *dir_, variant);
    auto t = OpenTokenizer("hf:" + path);
    ASSERT_TRUE(t.ok()) << t.status();
    ExpectSame(**t, gpt2);  // tiktoken's gpt2 on the whole corpus
    ExpectSame(**t, Expected("hf " + path, &js), &js);
  }
}

// Byte-level tokenizers take any bytes: random bytes (mostly invalid UTF-8) and valid text
// with invalid bytes inserted decode back to themselves.
TEST_F(Reference, InvalidUtf8RoundTrips) {
  std::mt19937 rng(3);
  std::string noise(200000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  std::string mixed = corpus_->substr(0, 200000);
  for (size_t i = 0; i < mixed.size(); i += 97) mixed[i] = static_cast<char>(0x80 | (rng() & 0x7F));
  for (const std::string spec :
       {"tiktoken:" + *dir_ + "/files/cl100k_base.tiktoken",
        "tiktoken:" + *dir_ + "/files/o200k_base.tiktoken", "gpt2:" + *dir_ + "/files/gpt2",
        "hf:" + *dir_ + "/files/hf-split"}) {
    SCOPED_TRACE(spec);
    auto t = OpenTokenizer(spec);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE((*t)->lossless());
    for (const std::string* text : {&noise, &mixed}) {
      auto back = (*t)->Decode((*t)->Encode(*text, /*specials=*/false));
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(*back == *text);
    }
  }
}

// A SentencePiece BPE model with byte fallback (the Llama-2 / Mistral form), trained here by
// python3-sentencepiece, gives the library's own ids through our tokenizer on text it was not
// trained on (scripts it barely saw go through byte fallback); bos / eos are the model's.
TEST(SentencePieceReference, EqualsPythonSentencePiece) {
  char tmpl[] = "/tmp/meshtrain-sp-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string ref = "/usr/bin/python3 " + kSource + "/tests/support/sentencepiece_ref.py";
  const std::string corpus = mt::testing::VariedCorpus(kSource, 600 * 1024, 11);
  std::ofstream(dir + "/train.txt", std::ios::binary) << corpus;
  const std::string train = fmt::format("{} train {}/train.txt {}/sp 6000", ref, dir, dir);
  ASSERT_EQ(std::system(train.c_str()), 0) << train;
  const std::string text = mt::testing::VariedCorpus(kSource, 300 * 1024, 12).substr(100 * 1024);
  std::ofstream(dir + "/text.txt", std::ios::binary) << text;
  const std::string enc =
      fmt::format("{} encode {}/sp.model {}/text.txt {}/ids.json", ref, dir, dir, dir);
  ASSERT_EQ(std::system(enc.c_str()), 0) << enc;
  const auto want = nlohmann::json::parse(Slurp(dir + "/ids.json")).get<std::vector<int32_t>>();
  auto t = OpenTokenizer("sentencepiece:" + dir + "/sp.model");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->vocab_size(), 6000);
  EXPECT_EQ((*t)->special_ids().bos, 1);
  EXPECT_EQ((*t)->special_ids().eos, 2);
  const std::vector<int32_t> got = (*t)->Encode(text, /*specials=*/false);
  EXPECT_GT(got.size(), text.size() / 8);
  EXPECT_TRUE(got == want) << got.size() << " tokens, python " << want.size();
  auto back = (*t)->Decode(got);
  ASSERT_TRUE(back.ok()) << back.status();
  auto want_back = (*t)->Decode(want);
  EXPECT_EQ(*back, *want_back);
  EXPECT_THAT(std::vector<int32_t>((*t)->Encode("<s>x</s>")),
              ::testing::AllOf(::testing::Contains(1), ::testing::Contains(2)));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mt::tok
