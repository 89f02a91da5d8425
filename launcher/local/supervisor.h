// Local launch path (DESIGN §1.1): `meshtrain run JOB --nproc N` hosts the coordinator in
// process, spawns N `meshtrain worker` processes, prefixes each output line with its rank,
// restarts the whole world at the next generation when the coordinator asks for it, and
// returns only when the job succeeded or failed.
//
// Processes: each worker gets its own process group (a terminal's Ctrl-C reaches only the
// launcher, which forwards it) and PR_SET_PDEATHSIG=SIGKILL (no orphans if the launcher is
// killed). First SIGINT/SIGTERM: the job is cancelled and workers get SIGTERM; a second one
// sends SIGKILL.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "launcher/coordinator/coordinator.h"
#include "launcher/coordinator/server.h"

namespace mt::local {

struct LocalOptions {
  std::string meshtrain_exe;  // this binary (/proc/self/exe)
  std::string job_path;
  std::string run_dir;
  int nproc = 1;
  coord::CoordinatorConfig coordinator;
  coord::ServerOptions server;    // listen defaults to 127.0.0.1:0
  std::string token_file;         // passed to workers as MT_COORDINATOR_TOKEN_FILE
  std::string resume;             // passed to workers as --resume when set
  bool allow_job_change = false;  // passed to workers as --allow-job-change
};

struct LocalResult {
  bool succeeded = false;
  int64_t generations = 0;
  int restarts = 0;
  std::string error;  // the coordinator's error when the job failed
  bool interrupted = false;
  int signal = 0;  // the signal that interrupted it (SIGINT, SIGTERM)
};

// Runs the job to completion. Errors are for the launcher itself (cannot listen, cannot
// spawn); a failed job is a LocalResult with succeeded = false.
absl::StatusOr<LocalResult> RunLocal(const LocalOptions& options);

}  // namespace mt::local
