// What the single-process trainer tests share: a temporary directory holding the tiny 2-digit
// addition dataset (256 train, 32 eval samples of 17 tokens) they train on, and Run, which
// trains a spec quietly into RUN_DIR = dir_/name.
#pragma once

#include <string>

#include "gtest/gtest.h"
#include "launcher/worker/trainer.h"
#include "runtime/data/addition.h"
#include "tests/support/temp_dir.h"

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

  // `resume`: TrainOptions::resume ("" follows the job's checkpoint.resume).
  absl::StatusOr<worker::TrainSummary> Run(const meshtrain::v1::JobSpec& spec,
                                           const std::string& name,
                                           const std::string& resume = "") {
    worker::TrainOptions o;
    o.spec = spec;
    o.run_dir = dir_ / name;
    o.quiet = true;
    o.resume = resume;
    return worker::Train(o);
  }

  TempDir dir_;
};

}  // namespace mt::testing
