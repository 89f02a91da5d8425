// Retrain trigger decisions (see decide.h).
#include "control/trigger/decide.h"

#include "fmt/format.h"

namespace mt::control {
namespace {

// Why production may not be retrained now ("" when it may).
std::string Blocked(const TriggerState& s, const std::string& data_uri) {
  for (const RetrainInfo& r : s.retrains) {
    if (r.state == "running") {
      return fmt::format("retrain {} of {} is still running", r.id, s.model);
    }
    if (r.base_version == *s.production && r.data_uri == data_uri && r.state == "succeeded") {
      return fmt::format("v{} was already retrained on {} (retrain {})", r.base_version, data_uri,
                         r.id);
    }
  }
  return "";
}

// The policy, or why there is none to apply.
std::string NoPolicy(const TriggerState& s) {
  if (!s.production) return fmt::format("{} has no production version to retrain", s.model);
  if (!s.prod_job)
    return fmt::format("{} v{} was registered without its job", s.model, *s.production);
  if (!s.prod_job->control().has_retrain()) {
    return fmt::format("{} v{}'s job has no control.retrain policy", s.model, *s.production);
  }
  return "";
}

RetrainPlan Submit(const TriggerState& s, bool crossed, const std::string& why,
                   const std::string& data_uri) {
  RetrainPlan p{crossed, false, why};
  if (std::string blocked = Blocked(s, data_uri); !blocked.empty()) {
    p.reason += "; not retraining: " + blocked;
    return p;
  }
  p.submit = true;
  p.reason += fmt::format("; fine-tuning v{} on {}", *s.production, data_uri);
  return p;
}

}  // namespace

RetrainPlan DecideOnMetric(const TriggerState& s, const std::string& metric, double value,
                           const std::string& data_uri) {
  if (std::string none = NoPolicy(s); !none.empty()) return {false, false, none};
  const auto& retrain = s.prod_job->control().retrain();
  if (metric != retrain.metric()) {
    return {false, false,
            fmt::format("the retrain policy of {} v{} watches {}, not {}", s.model, *s.production,
                        retrain.metric(), metric)};
  }
  if (!(value < retrain.below())) {
    return {false, false,
            fmt::format("{} = {:.6g} is not below {:.6g}", metric, value, retrain.below())};
  }
  return Submit(s, true, fmt::format("{} = {:.6g} is below {:.6g}", metric, value, retrain.below()),
                data_uri);
}

RetrainPlan DecideOnDataset(const TriggerState& s, const std::string& data_uri) {
  if (std::string none = NoPolicy(s); !none.empty()) return {false, false, none};
  if (!s.prod_job->control().retrain().on_new_data()) {
    return {false, false,
            fmt::format("{} v{}'s job does not retrain on new data (control.retrain.on_new_data)",
                        s.model, *s.production)};
  }
  return Submit(s, false, fmt::format("new dataset {}", data_uri), data_uri);
}

}  // namespace mt::control
