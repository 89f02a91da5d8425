// `meshtrain k8s render` (DESIGN §1.3): the Kubernetes objects that run one job, as JSON
// values in apply order. Pure: the job spec in, objects out; the CLI prints them as YAML.
//
//   ConfigMap <job>-job            the effective job file (control.endpoint -> the control
//                                  Service when the job embeds it; token path when a Secret)
//   ServiceAccount <job>           no API token mounted
//   Deployment + Service <job>-coordinator   gRPC 29400, metrics 9400
//   Service <job>-workers          headless: stable pod DNS for the Indexed Job
//   Job <job>-workers              Indexed, completions = parallelism = world / ranks_per_pod,
//                                  restartPolicy Never, podFailurePolicy (exit 2 fails the
//                                  job, exit 3 and disruptions are ignored, others count),
//                                  backoffLimitPerIndex = fault_tolerance.max_restarts + 1
//   PVC + Deployment + Service <job>-control  gRPC 29500, metrics 9500 (embedded control only)
//   NetworkPolicy ×4               default deny; workers -> coordinator, control; workers <->
//                                  workers; DNS; egress to the blob endpoint (TCP 443)
//
// Every pod: non-root (65532), read-only root filesystem (emptyDir for scratch and /tmp), no
// privilege escalation, all capabilities dropped, seccomp RuntimeDefault. Secrets (token,
// blob credentials) are referenced by name, never inlined.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "nlohmann/json.hpp"

namespace mt::k8s {

constexpr int kCoordinatorPort = 29400, kCoordinatorMetricsPort = 9400;
constexpr int kControlPort = 29500, kControlMetricsPort = 9500;
constexpr char kDefaultImage[] = "ghcr.io/meshtrain/meshtrain:0.1.0";
// Exit codes of `meshtrain worker` the pod failure policy matches.
constexpr int kExitInvalid = 2, kExitRestart = 3, kExitCoordinatorLost = 4;

struct RenderOptions {
  std::string namespace_name;  // overrides resources.namespace
  std::string image;           // overrides resources.image (default kDefaultImage)
  std::string cpu_image;       // the image of CPU-only roles (default: `image`)
};

// InvalidArgument naming the field for a job that cannot run as rendered (world size not a
// multiple of ranks_per_pod, GPUs on a CPU job: the validator's checks) — callers validate
// first; this re-checks what the manifests depend on.
absl::StatusOr<std::vector<nlohmann::json>> Render(const meshtrain::v1::JobSpec& spec,
                                                   const RenderOptions& options);

// The objects as one YAML stream ("---" between documents), every string double-quoted so no
// value changes type ("1", "true" stay strings).
std::string ToYaml(const std::vector<nlohmann::json>& objects);

}  // namespace mt::k8s
