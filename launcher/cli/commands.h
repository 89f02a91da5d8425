// Subcommands of the `meshtrain` entry point. Each Add*Command registers one subcommand (its
// options and help) on the root app and returns how to run it once parsed.
//
// Exit codes shared by every command: 0 success, 1 runtime failure, 2 invalid input (job file,
// flags, environment) detected before any work starts.
#pragma once

#include <functional>

#include "CLI/CLI.hpp"

namespace mt::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;

struct Command {
  CLI::App* app;             // the subcommand; truthy after parsing when it was chosen
  std::function<int()> run;  // runs it; returns the exit code
};

Command AddValidateCommand(CLI::App& root);
Command AddDocsCommand(CLI::App& root);
Command AddRunCommand(CLI::App& root);
Command AddFinetuneCommand(CLI::App& root);
Command AddDataCommand(CLI::App& root);
Command AddGenerateCommand(CLI::App& root);
Command AddWorkerCommand(CLI::App& root);
Command AddCoordinatorCommand(CLI::App& root);
Command AddStatusCommand(CLI::App& root);
Command AddCkptCommand(CLI::App& root);
Command AddRegistryCommand(CLI::App& root);
Command AddAuditCommand(CLI::App& root);
Command AddControlCommand(CLI::App& root);
Command AddK8sCommand(CLI::App& root);
Command AddTokenizerCommand(CLI::App& root);

}  // namespace mt::cli
