// Evaluation during a run: the held-out batches shared over the data-parallel ranks (the
// result equals one process's), recorded by the lead rank.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "train/evaluate.h"
#include "train/parallel_model.h"
#include "train/progress.h"
#include "train/run_data.h"
#include "train/run_report.h"

namespace mt::train {

// Evaluates after `step` steps; on the lead rank (`sink` set) writes the record and a progress
// note. Collective over the dp and pp groups.
absl::StatusOr<EvalResult> RunEval(ParallelModel& pm, const TrainData& d,
                                   const meshtrain::v1::JobSpec& spec, int64_t step, Reporter* sink,
                                   Progress& progress);

}  // namespace mt::train
