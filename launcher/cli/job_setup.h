// What several commands share: loading a job for a world size (problems printed, exit 2),
// the coordinator settings a job implies, and the checks a multi-process run needs today.
#pragma once

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "launcher/coordinator/coordinator.h"
#include "launcher/coordinator/server.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/storage/run_hold.h"

namespace mt::cli {

// "  memory      ~X per rank (parameters, gradients, optimizer, activations; estimate)\n".
std::string MemoryLine(const meshtrain::v1::JobSpec& spec);

// --set KEY.PATH=VALUE (repeatable) on a command that loads a job (job::LoadOptions::overrides).
void AddSetFlag(CLI::App* app, std::vector<std::string>& overrides);

// Writes the resolved job (every default filled in, overrides applied) as JSON, which is YAML
// and loads like the job file, to `path` (atomically): the run's record of what it trained,
// and the file its workers load.
absl::Status WriteEffectiveJob(const meshtrain::v1::JobSpec& spec, const std::string& path);

// Prints "<who>: <status message>" on stderr and returns `exit_code`.
int Fail(const char* who, const absl::Status& status, int exit_code);

// The exit code of a failed training run: 2 (invalid input: a bad job, a missing, corrupt or
// mismatched dataset, a cache too small for the data) or 1 (the run failed).
int TrainingExitCode(const absl::Status& status);

// Loads and validates; prints problems to stderr and returns nullopt when invalid.
std::optional<meshtrain::v1::JobSpec> LoadJobForWorld(const std::string& path, int world);

coord::CoordinatorConfig CoordinatorConfigFor(const meshtrain::v1::JobSpec& spec, int world);

// The job's feed to its control service (control.endpoint; embedded: the registry file of
// RUN_DIR): audit records always, training metrics only to a running service.
std::shared_ptr<coord::ControlFeed> ControlFeedFor(const meshtrain::v1::JobSpec& spec,
                                                   const std::string& run_dir);
// CoordinatorConfig::protect for the job: the checkpoints its registry references.
std::function<ckpt::Committer::Protected(const std::string&)> ProtectFor(
    const meshtrain::v1::JobSpec& spec, const std::string& run_dir);

// The holds of a run (storage::HoldRun): RUN_DIR (when not empty) and the job's checkpoint
// store, described as `who`. On error prints it (and, when another run holds one, what to
// do) and returns it: exit with TrainingExitCode (2 for a held one).
absl::StatusOr<std::shared_ptr<storage::RunHolds>> HoldRunOrSay(const meshtrain::v1::JobSpec& spec,
                                                                const std::string& run_dir,
                                                                const char* who);

// --token-file / --tls-* flags into server options (errors name the file).
// The coordinator server's flags: security, and where Prometheus scrapes it.
struct SecurityFlags {
  std::string token_file, tls_cert, tls_key, tls_client_ca;
  std::string metrics_listen;  // --metrics-listen IPV4:PORT; empty: no /metrics
};
// --token-file, --metrics-listen, --tls-cert, --tls-key, --tls-client-ca on a server command.
void AddServerFlags(CLI::App* app, SecurityFlags& flags);
absl::StatusOr<coord::ServerOptions> ServerOptionsFrom(const SecurityFlags& flags,
                                                       const std::string& listen);

}  // namespace mt::cli
