// `meshtrain run JOB.yaml --run-dir DIR [--nproc N]`: validate the job, then train it. Today
// one process trains (N = 1); the coordinator and local launcher make N > 1 work.
#include <cstdio>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/worker/trainer.h"
#include "runtime/core/file.h"
#include "runtime/job/load.h"
#include "runtime/job/summary.h"

namespace mt::cli {
namespace {

struct RunArgs {
  std::string job;
  std::string run_dir;
  int nproc = 1;
};

std::string SummaryLine(const worker::TrainSummary& s) {
  std::string line = fmt::format("done: {} steps in {:.1f} s, {:.0f} tokens/s, final loss {:.4f}",
                                 s.steps, s.wall_s, s.tokens_per_s, s.final_loss);
  if (s.eval_loss) line += fmt::format(", eval loss {:.4f}", *s.eval_loss);
  if (s.eval_accuracy) line += fmt::format(", eval exact-match {:.1f}%", 100 * *s.eval_accuracy);
  if (s.skipped_updates > 0) line += fmt::format(", {} updates skipped", s.skipped_updates);
  return line;
}

int RunRun(const RunArgs& args) {
  job::LoadOptions options;
  options.world = args.nproc;
  job::LoadResult r = job::LoadJobFile(args.job, options);
  if (!r.ok()) {
    std::fputs(job::FormatProblems(r.problems).c_str(), stderr);
    return kExitInvalid;
  }
  if (args.nproc != 1) {
    std::fprintf(stderr, "--nproc: only single-process runs are supported so far (found %d)\n",
                 args.nproc);
    return kExitInvalid;
  }
  std::printf("%s", job::Summarize(r.spec, options).c_str());
  worker::TrainOptions train;
  train.spec = r.spec;
  train.run_dir = args.run_dir;
  auto summary = worker::Train(train);
  if (!summary.ok()) {
    std::fprintf(stderr, "meshtrain run: %s\n", std::string(summary.status().message()).c_str());
    return summary.status().code() == absl::StatusCode::kInvalidArgument ||
                   summary.status().code() == absl::StatusCode::kNotFound
               ? kExitInvalid
               : kExitFailure;
  }
  std::printf("%s\nrun dir: %s (metrics.jsonl, summary.json)\n", SummaryLine(*summary).c_str(),
              args.run_dir.c_str());
  return kExitOk;
}

}  // namespace

Command AddRunCommand(CLI::App& root) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* app = root.add_subcommand("run", "Train a job file (embedded services, local)");
  app->footer(
      "Validates the job, trains it, evaluates every eval.every steps and at the end, and "
      "writes RUN_DIR/metrics.jsonl (one JSON record per logged step or evaluation) and "
      "RUN_DIR/summary.json. Exit 2 for an invalid job or dataset, 1 when training fails.");
  app->add_option("job", args->job, "Job file (YAML)")->required();
  app->add_option("--run-dir", args->run_dir, "Directory for metrics and results")->required();
  app->add_option("--nproc", args->nproc, "Worker processes (world size); 1 for now")
      ->check(CLI::PositiveNumber);
  return Command{app, [args] { return RunRun(*args); }};
}

}  // namespace mt::cli
