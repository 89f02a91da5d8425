// `meshtrain docs job-file|params [--out FILE]`: print reference documentation generated from
// the code (the JobSpec proto, the MT_* parameter table). docs/*.md are these outputs, kept
// equal by tests; scripts/gen-docs.sh rewrites them.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "launcher/cli/commands.h"
#include "launcher/cli/job_setup.h"
#include "runtime/core/file.h"
#include "runtime/core/params.h"
#include "runtime/job/reference.h"

namespace mt::cli {
namespace {

struct DocsArgs {
  std::string topic;
  std::string out;
  bool force = false;
};

int RunDocs(const DocsArgs& args) {
  std::string text =
      args.topic == "job-file" ? job::JobFileReference() : params::MarkdownDocument();
  if (args.out.empty()) {
    std::fputs(text.c_str(), stdout);
    return kExitOk;
  }
  if (absl::Status free = CheckOutputFree(args.out, args.force, "--out"); !free.ok()) {
    return Fail("meshtrain docs", free, kExitInvalid);
  }
  if (absl::Status s = WriteFileAtomic(args.out, text); !s.ok()) {
    return Fail("meshtrain docs", s, kExitFailure);
  }
  return kExitOk;
}

}  // namespace

Command AddDocsCommand(CLI::App& root) {
  auto args = std::make_shared<DocsArgs>();
  CLI::App* app = root.add_subcommand("docs", "Print reference docs generated from the code");
  app->footer(
      "job-file: every job file key with its type, default and meaning (docs/job-file.md). "
      "params: every MT_* environment variable (docs/parameters.md).");
  app->add_option("topic", args->topic, "job-file or params")
      ->required()
      ->check(CLI::IsMember({"job-file", "params"}));
  app->add_option("-o,--out", args->out, "Write to FILE instead of stdout");
  app->add_flag("--force", args->force, "Replace FILE when it exists");
  return Command{app, [args] { return RunDocs(*args); }};
}

}  // namespace mt::cli
