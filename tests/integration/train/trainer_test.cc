// The single-process trainer end to end on a tiny addition dataset: it learns (loss falls),
// writes metrics.jsonl and summary.json, is bit-for-bit deterministic, and turns bad input into
// clear errors instead of crashes.
#include "train/trainer.h"

#include "train/device_model.h"
#include "train/model_io.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/job/load.h"
#include "tests/support/trainer_fixture.h"

namespace mt::train {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class TrainerTest : public mt::testing::TrainerFixture {
 protected:
  // `train` replaces the default learning rate and adds keys, e.g. ", lr: 1e30, clip: 0".
  meshtrain::v1::JobSpec Spec(const std::string& train = ", lr: 3e-3") {
    const std::string text =
        "name: t\n"
        "model: {n_layer: 2, n_head: 2, d_model: 32, seq_len: 16, "
        "vocab_size: 256}\n"
        "data: {uri: " +
        dir_ / "data" +
        "}\n"
        "parallel: {micro_batches: 2}\n"
        "train: {global_batch: 8, steps: 30, warmup: 3, log_every: 5" +
        train +
        "}\n"
        "eval: {every: 10, batches: 2}\n";
    job::LoadResult r = job::LoadJobText(text, "t.yaml");
    EXPECT_TRUE(r.ok()) << job::FormatProblems(r.problems);
    return r.spec;
  }

  std::vector<json> Records(const std::string& name) {
    std::vector<json> out;
    std::istringstream in(*ReadFile(dir_ / name + "/metrics.jsonl"));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }
};

TEST_F(TrainerTest, LearnsAndWritesMetricsAndSummary) {
  auto s = Run(Spec(), "run");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->steps, 30);
  auto records = Records("run");
  std::vector<double> losses;
  int evals = 0;
  for (const json& r : records) {
    if (r.contains("loss")) {
      losses.push_back(r["loss"]);
      for (const char* k : {"step", "lr", "grad_norm", "tokens_per_s"}) EXPECT_TRUE(r.contains(k));
    }
    if (r.contains("eval_loss")) {
      ++evals;
      EXPECT_TRUE(r.contains("eval_accuracy"));  // the dataset declares answer spans
    }
  }
  ASSERT_EQ(losses.size(), 6u);  // every 5 steps
  EXPECT_EQ(evals, 3);           // steps 10, 20, 30
  EXPECT_LT(losses.back(), losses.front() - 1.0) << "the model did not learn";
  json summary = json::parse(*ReadFile(dir_ / "run/summary.json"));
  EXPECT_EQ(summary["final_step"], 30);
  EXPECT_GT(summary["tokens_per_s"].get<double>(), 0);
  EXPECT_TRUE(summary.contains("eval_accuracy"));
}

TEST_F(TrainerTest, SavedModelReloadsAndGenerates) {
  ASSERT_TRUE(Run(Spec(), "gen").ok());
  auto model = LoadModel(dir_ / "gen/model.safetensors");
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string prompt = "12+34=";
  std::vector<int32_t> tokens(prompt.begin(), prompt.end());
  GenerateOptions o;
  o.max_tokens = 6;
  o.stop = '\n';
  auto a = Generate(**model, tokens, o);
  auto b = Generate(**model, tokens, o);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);  // greedy is deterministic
  for (int32_t t : a) EXPECT_TRUE(t >= 0 && t < 256) << t;
  EXPECT_EQ(LoadModel(dir_ / "missing.safetensors").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TrainerTest, SameSeedGivesBitIdenticalLosses) {
  ASSERT_TRUE(Run(Spec(), "a").ok());
  ASSERT_TRUE(Run(Spec(), "b").ok());
  auto a = Records("a"), b = Records("b");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (const char* k : {"loss", "grad_norm", "eval_loss"}) {
      if (a[i].contains(k)) {
        EXPECT_EQ(a[i][k].dump(), b[i][k].dump()) << k << " record " << i;
      }
    }
  }
  ASSERT_TRUE(Run(Spec(", lr: 3e-3, seed: 43"), "c").ok());
  EXPECT_NE(Records("c")[0]["loss"].dump(), a[0]["loss"].dump());
}

TEST_F(TrainerTest, NonFiniteLossStopsNamingTheStepOrIsSkipped) {
  auto stop = Run(Spec(", lr: 1e30, clip: 0"), "nan-stop");
  ASSERT_FALSE(stop.ok());
  EXPECT_THAT(std::string(stop.status().message()),
              HasSubstr("non-finite loss or gradient at step"));
  auto skip = Run(Spec(", lr: 1e30, clip: 0, nan_policy: skip"), "nan-skip");
  ASSERT_TRUE(skip.ok()) << skip.status();
  EXPECT_GT(skip->skipped_updates, 0);
}

// What the one-GPU path cannot run is refused before any work (FailedPrecondition: exit 2),
// naming the key; a one-process GPU job passes (a missing device is Train's to report).
TEST_F(TrainerTest, CheckTrainableRefusesWhatTheGpuPathCannotRun) {
  auto spec = Spec();
  EXPECT_TRUE(CheckTrainable(spec).ok());
  spec.set_device("cuda");
  const absl::Status one = CheckTrainable(spec);
  if (!DeviceModel::Built()) {
    EXPECT_THAT(std::string(one.message()), HasSubstr("built without CUDA")) << one;
    return;
  }
  // One process: trainable where a device is visible, else refused naming that.
  EXPECT_TRUE(one.ok() ||
              std::string(one.message()).find("no CUDA device is visible") != std::string::npos)
      << one;
  spec.mutable_parallel()->set_virtual_stages(2);
  const absl::Status chunks = CheckTrainable(spec);
  EXPECT_EQ(chunks.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chunks.message()),
              HasSubstr("parallel.virtual_stages: 2 needs device: cpu"));
  spec.mutable_parallel()->set_virtual_stages(1);
  spec.mutable_mesh()->set_tp(2);
  const absl::Status mesh = CheckTrainable(spec);
  EXPECT_EQ(mesh.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(mesh.message()), HasSubstr("this job's mesh is dp 1 x tp 2 x pp 1"));
}

TEST_F(TrainerTest, BadDataIsAClearError) {
  auto spec = Spec();
  spec.mutable_data()->set_uri(dir_ / "missing");
  auto missing = Run(spec, "x");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("data.uri:"));

  spec = Spec();
  spec.mutable_model()->set_vocab_size(64);  // the byte dataset declares 256
  auto vocab = Run(spec, "y");
  EXPECT_EQ(vocab.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(vocab.status().message()),
              HasSubstr("dataset vocab_size 256 does not fit model.vocab_size 64"));

  spec = Spec();
  spec.mutable_model()->set_seq_len(32);  // samples have 17 tokens
  EXPECT_THAT(std::string(Run(spec, "z").status().message()),
              HasSubstr("model.seq_len 32 needs at least 33"));
}

}  // namespace
}  // namespace mt::train
