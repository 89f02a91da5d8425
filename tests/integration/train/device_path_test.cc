// The trainer's device path (device: cuda) in CI, on machines without a GPU: a host twin
// stands in for the CUDA model (tests/support/host_twin_device.h), training exactly as the CPU
// step does. So a device run must equal the CPU run bit for bit, and a device run resumed from
// a checkpoint must equal the uninterrupted one: that holds only if the device model starts
// from the restored state, evaluation sees the device's weights, and checkpoints hold the
// device's weights, moments and step. The GPU itself is tested by cuda_trainer_test (label gpu).
#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "tests/support/host_twin_device.h"
#include "tests/support/trainer_fixture.h"
#include "train/model_io.h"

namespace mt::train {
namespace {

using json = nlohmann::json;

class DevicePathTest : public mt::testing::TrainerFixture {
 protected:
  meshtrain::v1::JobSpec Spec(const std::string& device, const std::string& extra = "") {
    return TinySpec(", lr: 3e-3", "device: " + device + "\n" + extra);
  }

  // Every metric record of a run, as text (exact comparison).
  std::vector<std::string> Records(const std::string& name) {
    std::vector<std::string> out;
    std::istringstream in(*ReadFile(dir_ / name + "/metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line);
      j.erase("tokens_per_s");  // wall time
      out.push_back(j.dump());
    }
    return out;
  }

  // The parameters of a run's model.safetensors, by position.
  std::vector<std::vector<float>> Weights(const std::string& name) {
    auto model = LoadModel(dir_ / name + "/model.safetensors");
    EXPECT_TRUE(model.ok()) << model.status();
    std::vector<std::vector<float>> out;
    if (!model.ok()) return out;
    for (const nn::Parameter* p : (*model)->Parameters()) {
      const float* v = p->value.Data<float>();
      out.emplace_back(v, v + p->value.numel());
    }
    return out;
  }

  mt::testing::ScopedHostTwinDevice twin_;
};

TEST_F(DevicePathTest, TrainsEvaluatesAndWritesTheModelExactlyLikeTheCpuStep) {
  auto twin_steps = [] { return mt::testing::HostTwinDevice::steps().load(); };
  ASSERT_TRUE(Run(Spec("cpu"), "cpu").ok());
  EXPECT_EQ(twin_steps(), 0);
  auto device = Run(Spec("cuda"), "device");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(twin_steps(), 30) << "the device path did not run";
  const auto a = Records("cpu"), b = Records("device");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "record " << i;
  EXPECT_TRUE(Weights("cpu") == Weights("device")) << "the model file is not the device's";
}

TEST_F(DevicePathTest, ResumedFromACheckpointEqualsTheUninterruptedRun) {
  const std::string ck = "checkpoint: {store: " + dir_ / "ck" + ", every: 10, keep_last: 5";
  ASSERT_TRUE(Run(Spec("cuda", ck + ", async: true}\n"), "full").ok());
  auto resumed = Run(Spec("cuda", ck + "}\n"), "resumed", "1");  // from step 10
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->resumed_from, 1);
  const auto a = Records("full"), b = Records("resumed");
  ASSERT_EQ(b.size(), 20u + 2u);  // steps 11-30 and evaluations at 20 and 30
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b[i], a[a.size() - b.size() + i]) << "record " << i << " of the resumed run";
  }
  EXPECT_TRUE(Weights("full") == Weights("resumed"));
}

}  // namespace
}  // namespace mt::train
