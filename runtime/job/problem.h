// A problem found in a job file, and the one format every problem is printed in:
//   <field.path>: <what is wrong>[ at line N] (found <value>)
#pragma once

#include <string>
#include <vector>

namespace mt::job {

struct Problem {
  std::string path;   // "mesh.dp", "model.n_layer", "resources.tolerations[1].effect"
  std::string what;   // "must be positive"
  std::string found;  // already rendered: "0", "\"foo\"", "nothing", "a list"
  int line = 0;       // 1-based line in the job file; 0 when unknown
};

std::string FormatProblem(const Problem& p);
// All problems, one per line, each ending in '\n'.
std::string FormatProblems(const std::vector<Problem>& problems);

// Renders a scalar for the (found ...) part: strings quoted, numbers as written.
std::string Quote(const std::string& text);

}  // namespace mt::job
