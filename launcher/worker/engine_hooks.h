// What the training engine (train/) needs from the registry, provided by the launcher: the
// engine knows no registry (DESIGN §2), so `run` and the worker process bind these into
// TrainOptions.
#pragma once

#include <string>

#include "meshtrain/v1/job.pb.h"
#include "train/trainer.h"

namespace mt::worker {

// Binds the job's registry hooks into `o`: the checkpoint versions its registry references
// (kept by retention in one process) and the resolution of finetune.base. The registry is the
// job's control service: embedded (the registry file of `run_dir`, control.db) or a running one
// (control.endpoint).
void BindRegistryHooks(const meshtrain::v1::JobSpec& spec, const std::string& run_dir,
                       train::TrainOptions& o);

}  // namespace mt::worker
