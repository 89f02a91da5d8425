// `meshtrain k8s submit|status|logs|cancel`: thin wrappers over kubectl (the cluster's own
// client, with the user's kubeconfig and context), selecting the job's objects by the
// `meshtrain.dev/job` label render puts on each of them. The argv builders are pure (tested
// without a cluster); RunKubectl runs one.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::k8s {

struct KubectlOptions {
  std::string kubectl = "kubectl";  // MT_KUBECTL overrides (tests use a recording fake)
  std::string namespace_name;       // empty: the context's
  std::string context;              // empty: the current one
};

// kubectl apply -f - (the rendered stream on stdin).
std::vector<std::string> ApplyArgs(const KubectlOptions& o);
// The Job, its pods and the Deployments of the job.
std::vector<std::string> StatusArgs(const KubectlOptions& o, const std::string& job);
// Logs of worker index `index` (its pod's completion-index label).
std::vector<std::string> LogsArgs(const KubectlOptions& o, const std::string& job, int index,
                                  bool follow);
// Deletes every object of the job; the control service's claim (the registry) only with
// `purge`.
std::vector<std::string> DeleteArgs(const KubectlOptions& o, const std::string& job, bool purge);

// Runs argv (argv[0] found on PATH), `stdin_text` on its stdin, its output passed through (or,
// with `out`, its stdout captured there); returns its exit code. Unavailable naming the
// program when it cannot be started.
absl::StatusOr<int> RunKubectl(const std::vector<std::string>& argv, const std::string& stdin_text,
                               std::string* out = nullptr);
// The state of a rendered job's worker Job: "Complete", "Failed" or "" (still running), from
// its status conditions.
std::vector<std::string> JobConditionArgs(const KubectlOptions& o, const std::string& job);

}  // namespace mt::k8s
