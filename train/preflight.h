// The checks before step 1 that `validate` and `run` (and the worker under mpirun) share, so
// the two never disagree: the trainer can run the job here (CheckTrainable), what the run will
// write can be written (run dir, checkpoint store, embedded registry file), and the model fits
// this machine's memory. Each problem names its field or path; all are reported together.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::train {

// Bytes one rank holds (device: cpu, fp32): its slice of the parameters (1/(tp*pp)), their
// gradients, AdamW's two moments (1/dp of them under ZeRO-1), and the activations of the
// micro-batches in flight (layers/pp, attention scores included) plus the logits.
struct MemoryEstimate {
  int64_t parameters = 0, gradients = 0, optimizer = 0, activations = 0;
  int64_t PerRank() const { return parameters + gradients + optimizer + activations; }
};
MemoryEstimate EstimateMemory(const meshtrain::v1::JobSpec& spec);

// "1.5 GiB" / "12.0 MiB".
std::string HumanBytes(double bytes);

struct PreflightOptions {
  std::string run_dir;  // empty: not checked (validate without --run-dir)
  // Ranks that share this machine's memory (0: the whole world; resources.ranks_per_pod when
  // the job has a resources block, i.e. one Kubernetes pod).
  int ranks_here = 0;
  // This machine's available memory in bytes (0: MemAvailable from /proc/meminfo). Tests set it.
  int64_t available_bytes = 0;
};

// OK, or InvalidArgument / FailedPrecondition listing every problem, one per line:
// "checkpoint.store file:///x: cannot be written (...)", "model: needs about 40.2 GiB for 2
// ranks (...), this machine has 20.1 GiB available".
absl::Status Preflight(const meshtrain::v1::JobSpec& spec, const PreflightOptions& options);

}  // namespace mt::train
