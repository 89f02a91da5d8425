// What a run finds before it trains (DESIGN §2, "Runs"): the checkpoint it would resume and
// whether that already ends the job, and what the job file changed since that checkpoint was
// written. One check, used by every launcher before it starts ranks and by the engine itself
// before it restores, so a changed job is refused the same way everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"

namespace mt::train {

// One field whose change alters what a resumed run computes.
struct JobChange {
  std::string field;          // "train.lr"
  std::string before, after;  // as text
};

// The fields of `now` that differ from `saved` and alter the training trajectory: the model,
// the data (uri, eval_fraction, shuffle_seed, shuffle_window, loss_on), the optimizer and
// schedule (every train field but log_every and nan_policy; train.steps only under a decaying
// schedule, where it stretches the decay). Mesh, parallel layout, eval, checkpoint, control
// and fault tolerance are free to change.
std::vector<JobChange> TrajectoryChanges(const meshtrain::v1::JobSpec& saved,
                                         const meshtrain::v1::JobSpec& now);

// The version `resume` ("" for the job's checkpoint.resume) names: 0 for latest, -1 for never,
// else the number. InvalidArgument naming --resume otherwise.
absl::StatusOr<int64_t> ResumeVersion(const meshtrain::v1::JobSpec& spec,
                                      const std::string& resume);

struct StartCheck {
  int64_t version = 0;  // the checkpoint version the run resumes (0: a fresh start)
  int64_t step = 0;     // its step
  std::string store;    // its store's URI
  // step >= train.steps and the version verifies (every file's checksum): nothing to train.
  // A damaged one is not complete: the restore falls back to the previous version.
  bool complete = false;
};

// Reads the version that `resume` ("" for the job's checkpoint.resume, latest, never, N)
// names; the job-change check comes first (a finished run resumed with another model or lr is
// refused, not reported complete). FailedPrecondition listing the changes when the job alters that
// checkpoint's trajectory and !allow_job_change (InvalidArgument for a bad `resume`, NotFound for a
// version that is not there).
absl::StatusOr<StartCheck> CheckStart(const meshtrain::v1::JobSpec& spec, const std::string& resume,
                                      bool allow_job_change);

}  // namespace mt::train
