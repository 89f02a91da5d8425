// The job id: "<name>-<16 hex digits>", a fingerprint of the whole validated JobSpec. Every
// process computes it from its own job file, so the coordinator can refuse a worker started
// with a different job file (a different id) before it joins the world.
#pragma once

#include <string>

#include "meshtrain/v1/job.pb.h"

namespace mt::job {

std::string JobId(const meshtrain::v1::JobSpec& spec);

}  // namespace mt::job
