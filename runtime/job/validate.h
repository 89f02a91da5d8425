// Semantic validation of a JobSpec whose syntax and types are already known to be right:
// ranges, divisibility by the mesh, cross-field rules, URI schemes, names. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/v1/job.pb.h"
#include "runtime/job/load.h"
#include "runtime/job/problem.h"
#include "runtime/job/yaml_to_json.h"

namespace mt::job {

// Every problem found (empty: valid). `lines` attaches YAML lines to problems.
std::vector<Problem> Validate(const meshtrain::v1::JobSpec& spec, const SourceLines& lines,
                              const LoadOptions& options);

// "file" for file://... and plain paths, "az" for az://..., otherwise the scheme as written
// (which the validator rejects).
std::string UriScheme(std::string_view uri);

// The world size a job runs with: options.world when given, else dp * tp * pp.
int WorldSize(const meshtrain::v1::JobSpec& spec, const LoadOptions& options);

// backend: auto -> nccl on cuda devices, mpi under mpirun, gloo otherwise.
std::string ResolveBackend(const meshtrain::v1::JobSpec& spec, bool under_mpirun);

}  // namespace mt::job
