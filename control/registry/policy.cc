// Promotion gate (see policy.h).
#include "control/registry/policy.h"

#include <cmath>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::control {
namespace {

absl::StatusOr<double> MetricOf(const Metrics& m, const std::string& name, int64_t version,
                                const char* role) {
  auto it = m.find(name);
  if (it != m.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [n, v] : m) names.push_back(n);
  return absl::InvalidArgumentError(
      fmt::format("promotion policy: metric '{}' is not among {} version {}'s metrics ({})", name,
                  role, version, names.empty() ? "none" : absl::StrJoin(names, ", ")));
}

}  // namespace

bool LowerIsBetter(const std::string& name) {
  for (const char* word : {"loss", "perplexity", "error", "latency"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return false;
}

Policy Policy::FromSpec(const meshtrain::v1::PromoteSpec& s) {
  Policy p;
  if (!s.metric().empty()) p.metric = s.metric();
  if (!s.mode().empty()) p.mode = s.mode();
  p.min_improvement = s.min_improvement();
  p.guards.assign(s.guards().begin(), s.guards().end());
  return p;
}

absl::StatusOr<Verdict> Judge(const Policy& policy, int64_t candidate_version,
                              const Metrics& candidate, std::optional<int64_t> production_version,
                              const Metrics* production) {
  if (policy.mode != "min" && policy.mode != "max") {
    return absl::InvalidArgumentError(
        fmt::format("promotion policy: mode '{}' is not min or max", policy.mode));
  }
  MT_ASSIGN_OR_RETURN(double mine,
                      MetricOf(candidate, policy.metric, candidate_version, "candidate"));
  for (const std::string& g : policy.guards) {
    MT_RETURN_IF_ERROR(MetricOf(candidate, g, candidate_version, "candidate").status());
  }
  if (!production_version || production == nullptr) {
    return Verdict{true, fmt::format("{} {:.6g}: first version of the model", policy.metric, mine)};
  }
  const int64_t pv = *production_version;
  MT_ASSIGN_OR_RETURN(double theirs, MetricOf(*production, policy.metric, pv, "production"));
  const bool lower_better = policy.mode == "min";
  const double gain = lower_better ? theirs - mine : mine - theirs;
  const std::string compared =
      fmt::format("{} {:.6g} vs production v{}'s {:.6g}: {} by {:.6g}", policy.metric, mine, pv,
                  theirs, gain >= 0 ? "better" : "worse", std::abs(gain));
  if (gain < policy.min_improvement) {
    return Verdict{false, fmt::format("{}, needs an improvement of {:.6g}: stays a candidate",
                                      compared, policy.min_improvement)};
  }
  for (const std::string& g : policy.guards) {
    MT_ASSIGN_OR_RETURN(double a, MetricOf(candidate, g, candidate_version, "candidate"));
    MT_ASSIGN_OR_RETURN(double b, MetricOf(*production, g, pv, "production"));
    if (LowerIsBetter(g) ? a > b : a < b) {
      return Verdict{false, fmt::format("{}, but guard {} got worse ({:.6g} vs {:.6g}): stays a "
                                        "candidate",
                                        compared, g, a, b)};
    }
  }
  return Verdict{true, fmt::format("{} >= {:.6g}: promoted", compared, policy.min_improvement)};
}

}  // namespace mt::control
