// The promotion gate (DESIGN §3, job file `control.promote`): a candidate becomes production
// when its metric beats production's by at least min_improvement and no guard metric got
// worse. Pure: the registry stores what it decides, with the reason.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::control {

struct Policy {
  std::string metric = "eval_loss";
  std::string mode = "min";  // min: lower is better; max: higher is better
  double min_improvement = 0;
  // Metrics that must not get worse. Direction by name: a name with "loss", "perplexity",
  // "error" or "latency" in it is better lower, any other (accuracy, bleu, f1, ...) higher.
  std::vector<std::string> guards;
  static Policy FromSpec(const meshtrain::v1::PromoteSpec& spec);
};

struct Verdict {
  bool promote = false;
  std::string reason;  // one line: the numbers compared and the outcome
};

using Metrics = std::map<std::string, double>;

// Whether lower values of metric `name` are better (see Policy::guards).
bool LowerIsBetter(const std::string& name);

// `production` is null when the model has no production version yet (then the candidate is
// promoted). InvalidArgument naming the metric when the policy's metric or a guard is missing
// from either version's metrics.
absl::StatusOr<Verdict> Judge(const Policy& policy, int64_t candidate_version,
                              const Metrics& candidate, std::optional<int64_t> production_version,
                              const Metrics* production);

}  // namespace mt::control
