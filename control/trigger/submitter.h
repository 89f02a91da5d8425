// Running the fine-tune jobs the retrain trigger decides on (DESIGN §3: "through the same
// submitters as the CLI"). A retrain is `meshtrain finetune` of production's job: base = the
// production version, data = the new dataset, registered in the same registry, so the new
// version goes through the same gate. LocalSubmitter runs it as a local process; the
// Kubernetes submitter (k8s issue) renders the same job as manifests.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "control/registry/registry.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/core/process.h"

namespace mt::control {

// The job a retrain runs: production's job (JSON, as stored with the version) with
// finetune.base = MODEL@BASE (full fine-tuning), data.uri = the retrain's data, and a
// checkpoint store of its own (file stores: RUN_DIR/checkpoints; others: the store URI +
// "-retrain-ID"), so the base's checkpoints are neither resumed from nor pruned. Its control
// service: `endpoint` (with `token_file`) when the service is on the network — the retrain
// then reports like any job — else the embedded one on registry `db`. InvalidArgument when
// the stored job does not parse.
absl::StatusOr<meshtrain::v1::JobSpec> RetrainJobSpec(const std::string& base_job_json,
                                                      const RetrainInfo& r, const std::string& db,
                                                      const std::string& endpoint = "",
                                                      const std::string& token_file = "");

struct JobOutcome {
  bool ok = false;
  int exit_code = 0;               // the process's, or 128 + signal
  std::optional<int64_t> version;  // what the fine-tune registered (its summary.json)
};

class Submitter {
 public:
  virtual ~Submitter() = default;
  // Starts the job for retrain `r` (r.run_dir is its run dir) and returns once it runs (or
  // could not start). `done` runs once, on another thread (or the destructor's), when the job
  // has ended.
  virtual absl::Status Submit(const RetrainInfo& r, const meshtrain::v1::JobSpec& spec,
                              const std::string& db,
                              std::function<void(const JobOutcome&)> done) = 0;
  // Blocks until every submitted job has ended and its `done` returned.
  virtual void WaitAll() = 0;
};

// `MESHTRAIN_EXE finetune RUN_DIR/retrain-job.yaml --base MODEL@V --data URI --db DB --run-dir
// RUN_DIR` in a process group of its own, with a clean signal mask, output to
// RUN_DIR/retrain.log. One reaper thread (from the first Submit) runs each job's `done` when
// it ends. The destructor stops jobs still running as every supervisor here does
// (process::ChildGroup::Stop: SIGTERM to the group, SIGKILL after 10 s) and runs their `done`
// itself before it returns.
class LocalSubmitter final : public Submitter {
 public:
  explicit LocalSubmitter(std::string meshtrain_exe) : exe_(std::move(meshtrain_exe)) {}
  ~LocalSubmitter() override;
  absl::Status Submit(const RetrainInfo& r, const meshtrain::v1::JobSpec& spec,
                      const std::string& db, std::function<void(const JobOutcome&)> done) override;
  void WaitAll() override;

 private:
  struct Job {
    std::string run_dir;
    std::function<void(const JobOutcome&)> done;
  };
  void Reap();                                       // the reaper thread's loop
  void Finish(const process::ChildGroup::Ended& e);  // `done` of the job that ended (unlocked)

  std::string exe_;
  std::mutex mu_;
  std::condition_variable cv_;
  process::ChildGroup jobs_;      // guarded by mu_
  std::map<pid_t, Job> pending_;  // guarded by mu_: until the job's `done` returned
  std::thread reaper_;
  bool closing_ = false;  // guarded by mu_
};

}  // namespace mt::control
