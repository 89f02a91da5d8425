// meshtrain: the command-line entry point. Parses the subcommand, checks the MT_* environment,
// and turns the command's result into the exit code (the only place that does).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_join.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "runtime/core/logging.h"
#include "runtime/core/params.h"

namespace {

constexpr char kDescription[] =
    "meshtrain: distributed training job runtime.\n"
    "One coordinator owns the job and the collective world; workers train a model over a\n"
    "(pp, dp, tp) mesh, stream data from blob storage, checkpoint to a versioned store and\n"
    "report to a control service. Exit codes: 0 ok, 1 failure, 2 invalid input.";

}  // namespace

int main(int argc, char** argv) {
  // As a container's first process, the kernel drops signals without a handler: install one
  // so `kubectl delete` or a preemption stops us at once, not after the grace period.
  // Commands that handle signals themselves (run, control) replace or block it.
  if (getpid() == 1) {
    for (int sig : {SIGTERM, SIGINT}) std::signal(sig, [](int s) { std::_Exit(128 + s); });
  }
  CLI::App app{kDescription, "meshtrain"};
  app.set_version_flag("--version", "meshtrain 0.1.0");
  app.require_subcommand(1);
  mt::cli::ShowDefaults(app);  // before the subcommands: their options inherit it
  std::vector<mt::cli::Command> commands = {
      mt::cli::AddRunCommand(app),         mt::cli::AddGenerateCommand(app),
      mt::cli::AddValidateCommand(app),    mt::cli::AddDataCommand(app),
      mt::cli::AddDocsCommand(app),        mt::cli::AddWorkerCommand(app),
      mt::cli::AddCoordinatorCommand(app), mt::cli::AddStatusCommand(app),
      mt::cli::AddCkptCommand(app),        mt::cli::AddRegistryCommand(app),
      mt::cli::AddAuditCommand(app),       mt::cli::AddFinetuneCommand(app),
      mt::cli::AddControlCommand(app),     mt::cli::AddK8sCommand(app),
      mt::cli::AddTokenizerCommand(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, version or the parse error
    return rc == 0 ? mt::cli::kExitOk : mt::cli::kExitInvalid;
  }
  if (absl::Status env = mt::params::ValidateEnvironment(); !env.ok()) {
    std::fprintf(stderr, "%s\n", std::string(env.message()).c_str());
    return mt::cli::kExitInvalid;
  }
  if (auto unknown = mt::params::UnknownVariables(); !unknown.empty()) {
    MT_LOG(kWarn, kInit, "unknown MT_* environment variables (typos?): {}",
           absl::StrJoin(unknown, ", "));
  }
  for (const mt::cli::Command& c : commands) {
    if (*c.app) return c.run();
  }
  return mt::cli::kExitInvalid;  // unreachable: require_subcommand(1)
}
