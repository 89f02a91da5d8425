// The retrain trigger's decisions (DESIGN §3 "Retrain trigger"), pure: given what the registry
// knows about a model, whether a production metric report or a new dataset submits a fine-tune
// job. The policy is the production version's job (control.retrain); the caller looks up the
// state and carries out the plan.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "control/registry/registry.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::control {

struct TriggerState {
  std::string model;
  std::optional<int64_t> production;               // the production version, if any
  std::optional<meshtrain::v1::JobSpec> prod_job;  // its job, when registered with one
  std::vector<RetrainInfo> retrains;               // the model's retrains so far
};

struct RetrainPlan {
  bool crossed = false;  // the metric is below the threshold
  bool submit = false;   // submit a fine-tune of production on `data_uri`
  std::string reason;
};

// A production metric report. Crossed: value < retrain.below for retrain.metric. Submitted
// unless a retrain of the model is running, or production was already retrained (or is being
// retrained) on `data_uri` successfully.
RetrainPlan DecideOnMetric(const TriggerState& s, const std::string& metric, double value,
                           const std::string& data_uri);

// A new dataset: submitted when production's job says retrain.on_new_data (same exclusions).
RetrainPlan DecideOnDataset(const TriggerState& s, const std::string& data_uri);

}  // namespace mt::control
