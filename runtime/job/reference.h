// Generates the job file reference (docs/job-file.md) from the JobSpec descriptor and its
// (field)/(block_doc) options, so the documentation cannot drift from the schema.
#pragma once

#include <string>

namespace mt::job {

std::string JobFileReference();

}  // namespace mt::job
