// A worker process's life under a coordinator (DESIGN §2): join -> collective backend ->
// train (with a heartbeat thread beside it) -> report the outcome.
//
// The heartbeat thread renews the lease every heartbeat_s with step, phase, tokens/s and the
// last collective from the flight recorder. When the coordinator answers STOP_* (another rank
// failed, the job failed or is over) it calls on_stop, which ends the process: a worker stuck
// in a collective with a dead peer cannot be unwound safely, and nothing it holds is durable
// state (checkpoints are committed atomically), so leaving at once is the safe way out.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "launcher/coordinator/client.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::worker {

struct WorkerOptions {
  meshtrain::v1::JobSpec spec;
  std::string job_id;  // job::JobId(spec)
  coord::ClientOptions coordinator;
  int requested_rank = -1;  // -1: any
  int slot = 0;
  std::string run_dir;
  bool under_mpirun = false;
  std::string resume;             // for generation 1; later generations resume the latest version
  bool allow_job_change = false;  // train::TrainOptions::allow_job_change
  // Called from the heartbeat thread on STOP_*: (exit code, message). Must not return
  // (the CLI flushes and _exit()s).
  std::function<void(int, const std::string&)> on_stop;
};

struct WorkerResult {
  int rank = 0;
  int64_t generation = 0;
};

// Joins, trains and reports. An error has already been reported to the coordinator (when it
// was reachable); its message names the rank and the cause.
absl::StatusOr<WorkerResult> RunWorker(const WorkerOptions& options);

}  // namespace mt::worker
