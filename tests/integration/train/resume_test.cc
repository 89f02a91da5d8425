// Checkpoints through the single-process trainer: N steps, save, resume, N more equals the
// uninterrupted run bit for bit (losses and final parameters); an async save writes the same
// state; a damaged newest version is skipped for the previous one (an explicitly requested one
// is an error naming the file); a checkpoint of another model is refused naming the change, and
// with the change allowed naming the tensor; a finished run run again trains and writes
// nothing.
#include <fstream>
#include <sstream>

#include "checkpoint/format/shard.h"
#include "checkpoint/store/store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/job/load.h"
#include "tests/support/trainer_fixture.h"
#include "train/checkpointing.h"
#include "train/trainer.h"

namespace mt::train {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class ResumeTest : public mt::testing::TrainerFixture {
 protected:
  meshtrain::v1::JobSpec Spec(const std::string& store, const std::string& extra = "",
                              int d_model = 32) {
    const std::string text =
        "name: t\nmodel: {n_layer: 2, n_head: 2, d_model: " + std::to_string(d_model) +
        ", seq_len: 16, vocab_size: 256}\n"
        "data: {uri: " +
        dir_ / "data" +
        "}\n"
        "train: {global_batch: 8, steps: 30, warmup: 3, lr: 3e-3, "
        "log_every: 1}\n"
        "eval: {every: 0, batches: 1}\n"
        "checkpoint: {store: " +
        dir_ / store + ", every: 10, keep_last: 5" + extra + "}\n";
    job::LoadResult r = job::LoadJobText(text, "t.yaml");
    EXPECT_TRUE(r.ok()) << job::FormatProblems(r.problems);
    return r.spec;
  }

  std::map<int64_t, double> Losses(const std::string& name) {
    std::map<int64_t, double> out;
    std::istringstream in(*ReadFile(dir_ / name + "/metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      const json j = json::parse(line);
      if (j.contains("loss")) out[j["step"].get<int64_t>()] = j["loss"].get<double>();
    }
    return out;
  }

  // Every tensor of a version, by name.
  std::map<std::string, std::vector<float>> Tensors(const std::string& store, int64_t version) {
    auto s = *ckpt::CheckpointStore::Open(dir_ / store);
    auto all = s->ReadTensors(*s->ReadManifest(version), [](const std::string&) { return true; });
    EXPECT_TRUE(all.ok()) << all.status();
    std::map<std::string, std::vector<float>> out;
    for (auto& [name, full] : *all) out[name] = full.data;
    return out;
  }
};

TEST_F(ResumeTest, ResumedRunEqualsTheUninterruptedOneBitForBit) {
  auto full = Run(Spec("ck"), "full");
  ASSERT_TRUE(full.ok()) << full.status();
  auto store = *ckpt::CheckpointStore::Open(dir_ / "ck");
  EXPECT_THAT(*store->Committed(), ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(store->ReadManifest(1)->cursor, 80);
  EXPECT_EQ(store->ReadManifest(2)->parent, 1);

  auto resumed = Run(Spec("ck"), "resumed", "1");  // from step 10
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->resumed_from, 1);
  const auto a = Losses("full"), b = Losses("resumed");
  ASSERT_EQ(b.size(), 20u);
  for (const auto& [step, loss] : b) EXPECT_EQ(loss, a.at(step)) << "step " << step;
  EXPECT_EQ(*ReadFile(dir_ / "full/model.safetensors"),
            *ReadFile(dir_ / "resumed/model.safetensors"));
  EXPECT_EQ(store->ReadManifest(4)->parent, 1) << "the resumed run's first save";
  EXPECT_EQ(store->ReadManifest(5)->step, 30);
  EXPECT_TRUE(Tensors("ck", 4) == Tensors("ck", 2)) << "different state at step 20";
  EXPECT_TRUE(Tensors("ck", 5) == Tensors("ck", 3)) << "different state at step 30";
}

TEST_F(ResumeTest, AsyncSaveWritesTheSameStateAndTrainsTheSame) {
  ASSERT_TRUE(Run(Spec("sync"), "sync").ok());
  auto async = Run(Spec("async", ", async: true"), "async");
  ASSERT_TRUE(async.ok()) << async.status();
  EXPECT_EQ(Losses("sync"), Losses("async"));
  for (int64_t v : {1, 2, 3}) {
    EXPECT_TRUE(Tensors("sync", v) == Tensors("async", v)) << "version " << v << " differs";
  }
}

TEST_F(ResumeTest, DamagedNewestVersionFallsBackAndAnExplicitOneFails) {
  ASSERT_TRUE(Run(Spec("ck"), "full").ok());
  const std::string file = dir_ / "ck/versions/3/rank-00000.h5";
  std::string bytes = *ReadFile(file);
  bytes[bytes.size() / 3] ^= 0x20;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;

  auto latest = Run(Spec("ck"), "latest");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->resumed_from, 2);
  auto explicit3 = Run(Spec("ck"), "explicit", "3");
  EXPECT_EQ(explicit3.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(explicit3.status().message()),
              HasSubstr("resume: file://" + dir_.path() + "/ck/versions/3/rank-00000.h5"));
  EXPECT_THAT(std::string(explicit3.status().message()), HasSubstr("checksum mismatch"));
  EXPECT_EQ(Run(Spec("ck"), "nine", "9").status().code(), absl::StatusCode::kNotFound);
  auto never = Run(Spec("ck"), "never", "never");
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->resumed_from, 0);
}

// Another model is first a job change (named field by field); allowed anyway, the restore
// refuses the tensors that do not fit.
TEST_F(ResumeTest, CheckpointOfAnotherModelIsRefusedNamingTheTensor) {
  ASSERT_TRUE(Run(Spec("ck"), "full").ok());
  auto changed = Run(Spec("ck", "", 64), "changed");
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kFailedPrecondition) << changed.status();
  EXPECT_THAT(std::string(changed.status().message()), HasSubstr("model.d_model: 32 -> 64"));
  auto other = Run(Spec("ck", "", 64), "other", "", /*allow_job_change=*/true);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument) << other.status();
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("does not fit the model's"));
}

TEST_F(ResumeTest, AFinishedRunRunAgainTrainsAndWritesNothing) {
  ASSERT_TRUE(Run(Spec("ck"), "full").ok());
  const std::string summary = *ReadFile(dir_ / "full/summary.json");
  auto again = Run(Spec("ck"), "full");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_complete);
  EXPECT_EQ(again->steps, 30);
  EXPECT_EQ(again->resumed_from, 3);
  EXPECT_EQ(*ReadFile(dir_ / "full/summary.json"), summary);
  auto store = ckpt::CheckpointStore::Open(dir_ / "ck");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->Latest(), 3);  // no version saved by the second run
}

}  // namespace
}  // namespace mt::train
