// What the single-process trainer tests share: a temporary directory holding the tiny 2-digit
// addition dataset (256 train, 32 eval samples of 17 tokens) they train on, and Run, which
// trains a spec quietly into RUN_DIR = dir_/name.
#pragma once

#include <string>

#include "gtest/gtest.h"
#include "runtime/data/addition.h"
#include "runtime/job/load.h"
#include "tests/support/temp_dir.h"
#include "train/trainer.h"

namespace mt::testing {

class TrainerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    data::AdditionOptions o;
    o.digits = 2;
    o.train_samples = 256;
    o.eval_samples = 32;
    o.sample_len = 17;
    ASSERT_TRUE(data::WriteAdditionDataset(dir_ / "data", o).ok());
  }

  // The tiny GPT (2 layers, d_model 32, seq 16) on the fixture's dataset: 30 steps of 8
  // samples in 2 micro-batches, a metrics record every step, evaluation every 10. `train` adds
  // keys to the train block (lr among them), `extra` whole lines (device, checkpoint, ...).
  meshtrain::v1::JobSpec TinySpec(const std::string& train, const std::string& extra = "") {
    const std::string text =
        "name: t\n"
        "model: {n_layer: 2, n_head: 2, d_model: 32, seq_len: 16, vocab_size: 256}\n"
        "data: {uri: " +
        dir_ / "data" +
        "}\n"
        "parallel: {micro_batches: 2}\n"
        "train: {global_batch: 8, steps: 30, warmup: 3, log_every: 1" +
        train +
        "}\n"
        "eval: {every: 10, batches: 2}\n" +
        extra;
    job::LoadResult r = job::LoadJobText(text, "t.yaml");
    EXPECT_TRUE(r.ok()) << job::FormatProblems(r.problems);
    return r.spec;
  }

  // `resume`: TrainOptions::resume ("" follows the job's checkpoint.resume).
  absl::StatusOr<train::TrainSummary> Run(const meshtrain::v1::JobSpec& spec,
                                          const std::string& name, const std::string& resume = "",
                                          bool allow_job_change = false) {
    train::TrainOptions o;
    o.spec = spec;
    o.run_dir = dir_ / name;
    o.quiet = true;
    o.resume = resume;
    o.allow_job_change = allow_job_change;
    return train::Train(o);
  }

  TempDir dir_;
};

}  // namespace mt::testing
