// The resolved summary of a valid job: mesh and world, batch arithmetic, model size, schedule,
// and where data, checkpoints and metrics go. Printed by `meshtrain validate` and at job start.
#pragma once

#include <cstdint>
#include <string>

#include "meshtrain/v1/job.pb.h"
#include "runtime/job/load.h"

namespace mt::job {

// Parameter count of the GPT described by `model` (tied LM head).
int64_t ParameterCount(const meshtrain::v1::ModelSpec& model);

// Idle fraction of a pipeline schedule: (p-1)/(m+p-1), divided by v for interleaved.
double PipelineBubble(int stages, int micro_batches, int virtual_stages);

// Multi-line, human-readable summary; every line starts with two spaces and a label.
std::string Summarize(const meshtrain::v1::JobSpec& spec, const LoadOptions& options);

}  // namespace mt::job
