// `meshtrain validate JOB.yaml [--world N] [--quiet]`: load and check a job file without
// running anything. Valid: prints the resolved summary, exit 0. Invalid: one line per problem
// on stderr, exit 2.
#include <cstdio>
#include <memory>
#include <string>

#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "launcher/cli/job_setup.h"
#include "runtime/job/load.h"
#include "runtime/job/summary.h"
#include "train/preflight.h"

namespace mt::cli {
namespace {

struct ValidateArgs {
  std::string job;
  std::string run_dir;
  int world = 0;
  bool quiet = false;
  std::vector<std::string> overrides;
};

int RunValidate(const ValidateArgs& args) {
  job::LoadOptions options;
  options.world = args.world;
  options.overrides = args.overrides;
  job::LoadResult r = job::LoadJobFile(args.job, options);
  if (!r.ok()) {
    std::fputs(job::FormatProblems(r.problems).c_str(), stderr);
    return kExitInvalid;
  }
  // What `run` checks before step 1, the same function: the two never disagree.
  train::PreflightOptions preflight;
  preflight.run_dir = args.run_dir;
  preflight.ranks_here = args.world;
  if (absl::Status st = train::Preflight(r.spec, preflight); !st.ok()) {
    return Fail(args.job.c_str(), st, kExitInvalid);
  }
  if (!args.quiet) {
    std::printf("%s: valid\n%s%s", args.job.c_str(), job::Summarize(r.spec, options).c_str(),
                MemoryLine(r.spec).c_str());
  }
  return kExitOk;
}

}  // namespace

Command AddValidateCommand(CLI::App& root) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* app = root.add_subcommand("validate", "Check a job file without running anything");
  app->footer(
      "Checks YAML syntax, unknown keys, types, required fields and the semantic rules (mesh vs "
      "world size, divisibility by tp/pp, batch arithmetic, ranges, URI schemes). A valid job "
      "prints its resolved summary (mesh, world, batch math) and exits 0; otherwise one line per "
      "problem, '<field.path>: <what is wrong> (found <value>)', and exit code 2. Then the "
      "checks `run` makes before step 1: the trainer can run the job here, the checkpoint store "
      "and registry (and --run-dir) can be written, and the model fits this machine's memory "
      "(the estimate is printed).");
  app->add_option("job", args->job, "Job file (YAML)")->required();
  app->add_option("--world", args->world,
                  "World size the job will run with (e.g. --nproc or mpirun -np); default: "
                  "mesh.dp * mesh.tp * mesh.pp")
      ->check(AtLeast(1));
  app->add_flag("-q,--quiet", args->quiet, "Print nothing when the job is valid");
  AddSetFlag(app, args->overrides);
  app->add_option("--run-dir", args->run_dir, "Also check that this run directory can be written");
  return Command{app, [args] { return RunValidate(*args); }};
}

}  // namespace mt::cli
