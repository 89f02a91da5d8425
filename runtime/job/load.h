// Loading a job file: YAML text -> (descriptor-guided) JSON -> JobSpec via protobuf's JSON parser
// with unknown fields rejected -> semantic validation. Every problem is collected (not just the
// first) and carries the field path and, where known, the YAML line.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/job/problem.h"
#include "runtime/job/yaml_to_json.h"

namespace mt::job {

struct LoadOptions {
  // World size the job will run with (e.g. --nproc, mpirun -np); 0: take dp * tp * pp.
  int world = 0;
  // Command-line overrides, "KEY.PATH=VALUE" (`--set train.steps=100`), applied to the YAML
  // before it is checked, in order: VALUE is YAML ("100", "cosine", "{dp: 2}"), maps on the
  // path are created. A malformed one is a problem on "--set".
  std::vector<std::string> overrides;
};

struct LoadResult {
  meshtrain::v1::JobSpec spec;    // complete (defaults applied) when problems is empty
  SourceLines lines;              // field path -> YAML line
  std::vector<Problem> problems;  // empty: the job is valid
  bool ok() const { return problems.empty(); }
};

// Parses and validates job file text. `source` names it in problems about the file as a whole.
LoadResult LoadJobText(const std::string& text, const std::string& source,
                       const LoadOptions& options = {});
// Reads and loads a file; an unreadable file is reported as a problem too.
LoadResult LoadJobFile(const std::string& path, const LoadOptions& options = {});

// For callers that only need pass/fail: the spec, or InvalidArgument listing every problem.
absl::StatusOr<meshtrain::v1::JobSpec> LoadJobOrError(const std::string& path,
                                                      const LoadOptions& options = {});

}  // namespace mt::job
