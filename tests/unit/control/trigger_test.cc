// The retrain trigger's decisions (pure) and the job a retrain runs.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "control/trigger/decide.h"
#include "control/trigger/submitter.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace mt::control {
namespace {

using ::testing::HasSubstr;

// Production v3 of "adder", whose job retrains when prod_accuracy < 0.9.
TriggerState Watched(bool on_new_data = false) {
  TriggerState s;
  s.model = "adder";
  s.production = 3;
  meshtrain::v1::JobSpec job;
  job.mutable_control()->mutable_retrain()->set_metric("prod_accuracy");
  job.mutable_control()->mutable_retrain()->set_below(0.9);
  job.mutable_control()->mutable_retrain()->set_on_new_data(on_new_data);
  s.prod_job = job;
  return s;
}

RetrainInfo Retrain(int64_t id, int64_t base, const std::string& data, const std::string& state) {
  RetrainInfo r;
  r.id = id;
  r.model = "adder";
  r.base_version = base;
  r.data_uri = data;
  r.state = state;
  return r;
}

TEST(RetrainTrigger, BelowTheThresholdSubmitsAFineTuneOfProduction) {
  RetrainPlan p = DecideOnMetric(Watched(), "prod_accuracy", 0.85, "file:///b");
  EXPECT_TRUE(p.crossed);
  EXPECT_TRUE(p.submit);
  EXPECT_EQ(p.reason, "prod_accuracy = 0.85 is below 0.9; fine-tuning v3 on file:///b");
}

TEST(RetrainTrigger, AtOrAboveTheThresholdNothingHappens) {
  for (double v : {0.9, 0.95}) {
    RetrainPlan p = DecideOnMetric(Watched(), "prod_accuracy", v, "file:///b");
    EXPECT_FALSE(p.crossed) << v;
    EXPECT_FALSE(p.submit) << v;
    EXPECT_THAT(p.reason, HasSubstr("is not below 0.9"));
  }
}

TEST(RetrainTrigger, OtherMetricsAndMissingPoliciesAreNotCrossings) {
  RetrainPlan other = DecideOnMetric(Watched(), "latency_ms", 0.1, "file:///b");
  EXPECT_FALSE(other.crossed);
  EXPECT_EQ(other.reason, "the retrain policy of adder v3 watches prod_accuracy, not latency_ms");
  TriggerState none = Watched();
  none.production.reset();
  EXPECT_EQ(DecideOnMetric(none, "prod_accuracy", 0.1, "x").reason,
            "adder has no production version to retrain");
  TriggerState no_job = Watched();
  no_job.prod_job.reset();
  EXPECT_EQ(DecideOnMetric(no_job, "prod_accuracy", 0.1, "x").reason,
            "adder v3 was registered without its job");
  TriggerState no_policy = Watched();
  no_policy.prod_job->mutable_control()->clear_retrain();
  EXPECT_EQ(DecideOnMetric(no_policy, "prod_accuracy", 0.1, "x").reason,
            "adder v3's job has no control.retrain policy");
}

TEST(RetrainTrigger, OneRetrainAtATimeAndNoRepeatOfASucceededOne) {
  TriggerState s = Watched();
  s.retrains = {Retrain(1, 2, "file:///a", "succeeded"), Retrain(2, 3, "file:///b", "running")};
  RetrainPlan running = DecideOnMetric(s, "prod_accuracy", 0.5, "file:///c");
  EXPECT_TRUE(running.crossed);
  EXPECT_FALSE(running.submit);
  EXPECT_THAT(running.reason, HasSubstr("not retraining: retrain 2 of adder is still running"));
  s.retrains[1].state = "succeeded";
  RetrainPlan done = DecideOnMetric(s, "prod_accuracy", 0.5, "file:///b");
  EXPECT_FALSE(done.submit);
  EXPECT_THAT(done.reason, HasSubstr("v3 was already retrained on file:///b (retrain 2)"));
  // New data, or a failed attempt on the same data, may go again.
  EXPECT_TRUE(DecideOnMetric(s, "prod_accuracy", 0.5, "file:///c").submit);
  s.retrains[1].state = "failed";
  EXPECT_TRUE(DecideOnMetric(s, "prod_accuracy", 0.5, "file:///b").submit);
}

TEST(RetrainTrigger, NewDataRetrainsOnlyWhenThePolicySaysSo) {
  RetrainPlan off = DecideOnDataset(Watched(false), "file:///b");
  EXPECT_FALSE(off.submit);
  EXPECT_THAT(off.reason, HasSubstr("does not retrain on new data"));
  RetrainPlan on = DecideOnDataset(Watched(true), "file:///b");
  EXPECT_FALSE(on.crossed);
  EXPECT_TRUE(on.submit);
  EXPECT_EQ(on.reason, "new dataset file:///b; fine-tuning v3 on file:///b");
}

TEST(RetrainJob, ProductionsJobOnTheNewDataWithItsOwnCheckpointStore) {
  meshtrain::v1::JobSpec base;
  base.set_name("adder-job");
  base.mutable_data()->set_uri("file:///data/a");
  base.mutable_checkpoint()->set_store("file:///ck/adder");
  base.mutable_control()->set_endpoint("10.0.0.1:29500");
  base.mutable_train()->set_steps(40);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(base, &json).ok());
  RetrainInfo r = Retrain(4, 3, "file:///data/b", "running");
  r.run_dir = "/runs/adder-retrain-4";
  auto spec = RetrainJobSpec(json, r, "/srv/control.db");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->finetune().base(), "adder@3");
  EXPECT_EQ(spec->finetune().method(), "full");
  EXPECT_EQ(spec->data().uri(), "file:///data/b");
  EXPECT_EQ(spec->checkpoint().store(), "file:///runs/adder-retrain-4/checkpoints");
  EXPECT_EQ(spec->control().endpoint(), "embedded");
  EXPECT_EQ(spec->control().db(), "/srv/control.db");
  EXPECT_EQ(spec->train().steps(), 40);
  base.mutable_checkpoint()->set_store("az://acct/ck/adder/");
  json.clear();  // MessageToJsonString appends
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(base, &json).ok());
  EXPECT_EQ(RetrainJobSpec(json, r, "db")->checkpoint().store(), "az://acct/ck/adder-retrain-4");
  auto bad = RetrainJobSpec("{\"model\": 3}", r, "db");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("adder v3: its stored job"));
}

// The service blocks SIGINT/SIGTERM in every thread (it sigwaits for them); a retrain must
// not inherit that, or stopping it would have to wait for SIGKILL. A job that only sleeps ends
// at the destructor's SIGTERM, well inside its 10 s grace period, and its end is reported.
TEST(LocalSubmitter, StopsItsJobsEvenFromAProcessThatBlocksSigterm) {
  testing::TempDir dir;
  const std::string exe = dir / "fake-meshtrain.sh";
  std::ofstream(exe) << "#!/bin/sh\nexec sleep 60\n";
  std::filesystem::permissions(exe, std::filesystem::perms::owner_all);
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, &old);
  std::optional<JobOutcome> outcome;
  const auto t0 = std::chrono::steady_clock::now();
  {
    LocalSubmitter submitter(exe);
    RetrainInfo r = Retrain(1, 1, "file:///b", "running");
    r.run_dir = dir / "run";
    meshtrain::v1::JobSpec spec;
    spec.mutable_finetune()->set_base("adder@1");
    ASSERT_TRUE(submitter.Submit(r, spec, "db", [&](const JobOutcome& o) { outcome = o; }).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_LT(s, 5.0);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->ok);
  EXPECT_EQ(outcome->exit_code, 128 + SIGTERM);
}

}  // namespace
}  // namespace mt::control
