// device: cuda through the single-process trainer (label gpu: skipped without a device). The
// GPU step in fp32 trains like the CPU model (losses, evaluation and final weights to fp32
// rounding), bf16 learns, a run resumed on the GPU from a checkpoint continues the
// uninterrupted one (the moments and step go to the device and back), and a non-finite loss
// stops naming the step.
#include <stdlib.h>

#include <cmath>
#include <map>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "tests/support/trainer_fixture.h"
#include "train/model_io.h"
#include "train/trainer.h"

namespace mt::train {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kFp32[] = ", lr: 3e-3, precision: fp32";

class CudaTrainerTest : public mt::testing::TrainerFixture {
 protected:
  void SetUp() override {
    // fp32 GEMMs must stay fp32: NVIDIA_TF32_OVERRIDE=1 would run them in TF32 (10-bit
    // mantissa), far outside the tolerances against the CPU run.
    unsetenv("NVIDIA_TF32_OVERRIDE");
    TrainerFixture::SetUp();
  }

  // `device` is cpu or cuda; `train` adds keys to the train block (lr among them); `extra`
  // whole lines.
  meshtrain::v1::JobSpec Spec(const std::string& device, const std::string& train,
                              const std::string& extra = "") {
    return TinySpec(train, "device: " + device + "\n" + extra);
  }

  // step -> value of `key` in the run's metrics.jsonl.
  std::map<int64_t, double> Metric(const std::string& name, const std::string& key) {
    std::map<int64_t, double> out;
    std::istringstream in(*ReadFile(dir_ / name + "/metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      const json j = json::parse(line);
      if (j.contains(key)) out[j["step"].get<int64_t>()] = j[key].get<double>();
    }
    return out;
  }
};

TEST_F(CudaTrainerTest, Fp32OnTheDeviceTrainsLikeTheCpu) {
  ASSERT_TRUE(Run(Spec("cpu", kFp32), "cpu").ok());
  auto gpu = Run(Spec("cuda", kFp32), "gpu");
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(gpu->steps, 30);
  for (const char* key : {"loss", "grad_norm", "eval_loss"}) {
    const auto a = Metric("cpu", key), b = Metric("gpu", key);
    ASSERT_EQ(a.size(), b.size()) << key;
    ASSERT_FALSE(a.empty()) << key;
    for (const auto& [step, value] : a) {
      EXPECT_NEAR(b.at(step), value, 2e-3 * std::fabs(value) + 1e-5) << key << " at step " << step;
    }
  }
  // The final model file holds the device's weights (SyncHost before it is written).
  auto cpu_model = LoadModel(dir_ / "cpu/model.safetensors");
  auto gpu_model = LoadModel(dir_ / "gpu/model.safetensors");
  ASSERT_TRUE(cpu_model.ok() && gpu_model.ok());
  const auto pa = (*cpu_model)->Parameters(), pb = (*gpu_model)->Parameters();
  ASSERT_EQ(pa.size(), pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const float* x = pa[i]->value.Data<float>();
    const float* y = pb[i]->value.Data<float>();
    for (int64_t k = 0; k < pa[i]->value.numel(); ++k) {
      worst = std::max(worst, static_cast<double>(std::fabs(x[k] - y[k])));
    }
  }
  EXPECT_LT(worst, 2e-3) << "the device's final weights differ from the CPU run's";
  EXPECT_GT(worst, 0.0) << "identical to the last bit: did the device path run at all?";
}

TEST_F(CudaTrainerTest, Bf16Learns) {
  auto gpu = Run(Spec("cuda", ", lr: 3e-3, precision: bf16"), "bf16");
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const auto losses = Metric("bf16", "loss");
  ASSERT_EQ(losses.size(), 30u);
  EXPECT_LT(losses.at(30), losses.at(1) - 1.0) << "the model did not learn";
}

TEST_F(CudaTrainerTest, ResumedOnTheDeviceContinuesTheRun) {
  const std::string ck = "checkpoint: {store: " + dir_ / "ck" + ", every: 10, keep_last: 5}\n";
  // The uninterrupted run saves asynchronously (its snapshot is taken from the device's
  // state), the resumed one synchronously.
  const std::string async =
      "checkpoint: {store: " + dir_ / "ck" + ", every: 10, keep_last: 5, async: true}\n";
  ASSERT_TRUE(Run(Spec("cuda", kFp32, async), "full").ok());
  auto resumed = Run(Spec("cuda", kFp32, ck), "resumed", "1");  // from step 10
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->resumed_from, 1);
  const auto a = Metric("full", "loss"), b = Metric("resumed", "loss");
  ASSERT_EQ(b.size(), 20u);
  // Zeroed moments after the resume would move the first updates by ~lr / sqrt(1 - beta2).
  for (const auto& [step, loss] : b) {
    EXPECT_NEAR(loss, a.at(step), 1e-4 * std::fabs(loss)) << "step " << step;
  }
}

TEST_F(CudaTrainerTest, NonFiniteLossStopsNamingTheStepOrIsSkipped) {
  auto stop = Run(Spec("cuda", ", precision: fp32, lr: 1e30, clip: 0"), "nan");
  ASSERT_FALSE(stop.ok());
  EXPECT_THAT(std::string(stop.status().message()),
              HasSubstr("non-finite loss or gradient at step"));
  auto skip = Run(Spec("cuda", ", precision: fp32, lr: 1e30, clip: 0, nan_policy: skip"), "skip");
  ASSERT_TRUE(skip.ok()) << skip.status();
  EXPECT_GT(skip->skipped_updates, 0);
  EXPECT_EQ(skip->steps, 30);  // skipped updates do not stop the run
}

}  // namespace
}  // namespace mt::train
