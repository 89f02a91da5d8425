// Dataset format: index round trip and errors, writer/reader round trip, checksum and size
// verification, and the addition task's disjoint held-out split.
#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/core/file.h"
#include "runtime/data/addition.h"
#include "runtime/data/dataset.h"
#include "runtime/data/index.h"
#include "runtime/data/writer.h"
#include "runtime/storage/blob_store.h"
#include "tests/support/temp_dir.h"

namespace mt::data {
namespace {

using ::testing::HasSubstr;

DatasetIndex Header(int64_t vocab = 100, int64_t sample_len = 4) {
  DatasetIndex h;
  h.vocab_size = vocab;
  h.sample_len = sample_len;
  h.pad = 0;
  return h;
}

TEST(DatasetIndexJson, RoundTripsAndNamesBadFields) {
  DatasetIndex index = Header();
  index.answer = AnswerSpans{61, 10};
  index.shards.push_back({"train-00000.bin", "train", 3, 24, "0123456789abcdef"});
  auto back = IndexFromJson(IndexToJson(index), "index.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shards[0].xxh64, "0123456789abcdef");
  EXPECT_EQ(back->answer->begin, 61);
  EXPECT_EQ(*back->pad, 0);

  index.shards[0].bytes = 25;
  auto bad = IndexFromJson(IndexToJson(index), "d/index.json");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("d/index.json: shards[0].bytes: expected samples * sample_len * 2 = 24"));
  EXPECT_THAT(std::string(IndexFromJson("{\"format\": \"x\"}", "i").status().message()),
              HasSubstr("i: format"));
  EXPECT_FALSE(IndexFromJson("not json", "i").ok());
}

TEST(DatasetRoundTrip, WriterThenReaderGivesTheSamplesBack) {
  mt::testing::TempDir dir;
  DatasetWriter w(dir.path(), Header(), /*samples_per_shard=*/2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w.Add("train", {i, i + 1, i + 2, 99}).ok());
  ASSERT_TRUE(w.Add("eval", {7, 7, 7, 7}).ok());
  EXPECT_FALSE(w.Add("train", {1, 2, 3}).ok());       // wrong length
  EXPECT_FALSE(w.Add("train", {1, 2, 3, 100}).ok());  // outside the vocabulary
  ASSERT_TRUE(w.Finish().ok());
  auto ds = Dataset::Open("file://" + dir.path());
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->Samples("train"), 5);
  EXPECT_EQ(ds->Samples("eval"), 1);
  EXPECT_EQ(ds->index().shards.size(), 4u);  // 2 + 2 + 1 train, 1 eval
  int32_t s[4];
  ds->Sample("train", 4, s);
  EXPECT_EQ(std::vector<int32_t>(s, s + 4), (std::vector<int32_t>{4, 5, 6, 99}));
}

TEST(DatasetRoundTrip, CorruptOrTruncatedShardIsReportedByName) {
  mt::testing::TempDir dir;
  DatasetWriter w(dir.path(), Header(), 8);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w.Add("train", {1, 2, 3, 4}).ok());
  ASSERT_TRUE(w.Finish().ok());
  const std::string shard = dir / "train-00000.bin";
  std::string bytes = *ReadFile(shard);
  bytes[3] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(shard, bytes).ok());
  auto ds = Dataset::Open(dir.path());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr("train-00000.bin: checksum mismatch"));
  ASSERT_TRUE(WriteFileAtomic(shard, bytes.substr(0, 10)).ok());
  EXPECT_THAT(std::string(Dataset::Open(dir.path()).status().message()),
              HasSubstr("train-00000.bin: 10 bytes, index says 24"));
}

// Ids the index's vocabulary does not hold (a hand-written or foreign dataset; here the index
// is edited to a smaller vocabulary, its checksums intact) are refused naming shard, sample and
// position: they would train as zero embeddings and drop out of the loss.
TEST(DatasetRoundTrip, TokenIdsOutsideTheVocabularyAreRefusedNamingTheSample) {
  mt::testing::TempDir dir;
  DatasetWriter w(dir.path(), Header(), 8);
  ASSERT_TRUE(w.Add("train", {1, 2, 3, 4}).ok());
  ASSERT_TRUE(w.Add("train", {5, 6, 70, 8}).ok());
  ASSERT_TRUE(w.Finish().ok());
  DatasetIndex index = *IndexFromJson(*ReadFile(dir / "index.json"), "index.json");
  index.vocab_size = 64;
  ASSERT_TRUE(WriteFileAtomic(dir / "index.json", IndexToJson(index)).ok());
  auto ds = Dataset::Open(dir.path());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(ds.status().message()),
              HasSubstr("train-00000.bin: sample 1 has token id 70 at position 2, outside the "
                        "vocabulary [0, 64)"));
  auto store = storage::OpenBlobStore(dir.path());
  EXPECT_EQ(ReadSamples(**store, index, "train", {0}).status().code(), absl::StatusCode::kDataLoss);
}

TEST(DatasetRoundTrip, MissingDatasetSaysHowToCreateOne) {
  auto ds = Dataset::Open("file:///nonexistent/data");
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(ds.status().message()), HasSubstr("meshtrain data prepare"));
  auto s3 = Dataset::Open("s3://bucket/x");
  EXPECT_EQ(s3.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s3.status().message()), HasSubstr("s3://bucket/x"));
}

TEST(AdditionTask, ProblemsAreWrittenAsSpecified) {
  EXPECT_EQ(AdditionProblem(482, 37, 3, true), "482+037=9150\n");
  EXPECT_EQ(AdditionProblem(482, 37, 3, false), "482+037=0519\n");
  EXPECT_EQ(AdditionProblem(999, 1, 3, true), "999+001=0001\n");
  EXPECT_EQ(AdditionProblem(5, 7, 1, true), "5+7=21\n");
}

// Parses "a+b=" prompts out of a split's samples.
std::set<std::pair<int, int>> Problems(const Dataset& ds, const std::string& split) {
  std::set<std::pair<int, int>> out;
  std::vector<int32_t> s(ds.index().sample_len);
  for (int64_t i = 0; i < ds.Samples(split); ++i) {
    ds.Sample(split, i, s.data());
    std::string text(s.begin(), s.end());
    size_t pos = 0;
    while ((pos = text.find('+', pos)) != std::string::npos) {
      size_t start = text.rfind('\n', pos);
      start = start == std::string::npos ? 0 : start + 1;
      out.insert({std::stoi(text.substr(start, pos - start)), std::stoi(text.substr(pos + 1))});
      ++pos;
    }
  }
  return out;
}

TEST(AdditionTask, HeldOutProblemsNeverAppearInTraining) {
  mt::testing::TempDir dir;
  AdditionOptions o;
  o.digits = 2;  // small problem space, so overlap would certainly show
  o.train_samples = 2000;
  o.eval_samples = 200;
  o.sample_len = 33;
  o.eval_fraction = 0.1;
  ASSERT_TRUE(WriteAdditionDataset(dir.path(), o).ok());
  auto ds = Dataset::Open(dir.path());
  ASSERT_TRUE(ds.ok());
  auto train = Problems(*ds, "train"), eval = Problems(*ds, "eval");
  // 2000 samples x 3 problems drawn from ~9000 train pairs; 200 x 3 from ~1000 eval pairs.
  EXPECT_GT(train.size(), 3000u);
  EXPECT_GT(eval.size(), 300u);
  for (const auto& p : eval) {
    EXPECT_EQ(train.count(p), 0u) << p.first << "+" << p.second;
    EXPECT_TRUE(IsEvalProblem(p.first, p.second, 0.1));
  }
  EXPECT_FALSE(
      WriteAdditionDataset(dir.path(), AdditionOptions{.digits = 3, .sample_len = 10}).ok());
}

}  // namespace
}  // namespace mt::data
