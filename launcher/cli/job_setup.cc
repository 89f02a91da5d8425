// Shared job setup for the run, worker and coordinator commands (see job_setup.h).
#include "launcher/cli/job_setup.h"

#include <cstdio>
#include <filesystem>

#include "control/service/open.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "launcher/cli/commands.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/job/job_id.h"
#include "runtime/job/load.h"
#include "train/preflight.h"

namespace mt::cli {

std::string MemoryLine(const meshtrain::v1::JobSpec& spec) {
  const train::MemoryEstimate m = train::EstimateMemory(spec);
  return fmt::format(
      "  memory      ~{} per rank (parameters {}, gradients {}, optimizer {}, activations {}; "
      "estimate{})\n",
      train::HumanBytes(m.PerRank()), train::HumanBytes(m.parameters),
      train::HumanBytes(m.gradients), train::HumanBytes(m.optimizer),
      train::HumanBytes(m.activations), spec.device() == "cuda" ? ", device" : "");
}

void AddSetFlag(CLI::App* app, std::vector<std::string>& overrides) {
  app->add_option("--set", overrides,
                  "Override a job file value, KEY.PATH=VALUE (e.g. train.steps=100; repeatable); "
                  "checked like the file and recorded in RUN_DIR/job.effective.yaml");
}

absl::Status WriteEffectiveJob(const meshtrain::v1::JobSpec& spec, const std::string& path) {
  std::string text;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;  // the job file's snake_case names
  print.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(spec, &text, print).ok()) {
    return absl::InternalError("cannot write the job");
  }
  MT_RETURN_IF_ERROR(MakeDirs(std::filesystem::path(path).parent_path().string()));
  return WriteFileAtomic(path, text);
}

int Fail(const char* who, const absl::Status& status, int exit_code) {
  std::fprintf(stderr, "%s: %s\n", who, std::string(status.message()).c_str());
  return exit_code;
}

int TrainingExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
      return kExitInvalid;
    default:
      return kExitFailure;
  }
}

std::optional<meshtrain::v1::JobSpec> LoadJobForWorld(const std::string& path, int world) {
  job::LoadOptions options;
  options.world = world;
  job::LoadResult r = job::LoadJobFile(path, options);
  if (!r.ok()) {
    std::fputs(job::FormatProblems(r.problems).c_str(), stderr);
    return std::nullopt;
  }
  return r.spec;
}

coord::CoordinatorConfig CoordinatorConfigFor(const meshtrain::v1::JobSpec& spec, int world) {
  coord::CoordinatorConfig c;
  c.job_id = job::JobId(spec);
  c.world_size = world;
  c.dp = spec.mesh().dp();
  c.tp = spec.mesh().tp();
  c.pp = spec.mesh().pp();
  const auto& ft = spec.fault_tolerance();
  c.heartbeat_s = ft.heartbeat_s();
  c.rendezvous_timeout_s = ft.rendezvous_timeout_s();
  c.max_restarts = ft.max_restarts();
  if (spec.has_checkpoint()) {
    c.checkpoint_store = spec.checkpoint().store();
    c.checkpoint_keep_last = spec.checkpoint().keep_last();
  }
  return c;
}

std::shared_ptr<coord::ControlFeed> ControlFeedFor(const meshtrain::v1::JobSpec& spec,
                                                   const std::string& run_dir) {
  const bool remote = spec.control().endpoint() != "embedded";
  return std::make_shared<coord::ControlFeed>(
      [control = spec.control(), run_dir] { return control::OpenControl(control, run_dir); },
      job::JobId(spec), spec.control().model().empty() ? spec.name() : spec.control().model(),
      remote);
}

void AddServerFlags(CLI::App* app, SecurityFlags& flags) {
  app->add_option("--token-file", flags.token_file, "Require this bearer token");
  app->add_option("--metrics-listen", flags.metrics_listen,
                  "IPV4:PORT to serve Prometheus metrics on (/metrics; port 0: any)");
  app->add_option("--tls-cert", flags.tls_cert, "Server certificate (PEM): TLS");
  app->add_option("--tls-key", flags.tls_key, "Server private key (PEM)");
  app->add_option("--tls-client-ca", flags.tls_client_ca, "CA for client certificates (PEM): mTLS");
}

std::function<ckpt::Committer::Protected(const std::string&)> ProtectFor(
    const meshtrain::v1::JobSpec& spec, const std::string& run_dir) {
  return [control = spec.control(), run_dir](const std::string& store_uri) {
    return control::ProtectedCheckpoints(control, run_dir, store_uri);
  };
}

absl::StatusOr<std::shared_ptr<storage::RunHolds>> HoldRunOrSay(const meshtrain::v1::JobSpec& spec,
                                                                const std::string& run_dir,
                                                                const char* who) {
  const std::string store = spec.has_checkpoint() ? spec.checkpoint().store() : "";
  auto holds = storage::HoldRun(run_dir, store, who);
  if (holds.ok()) return holds;
  std::fprintf(stderr, "%s: %s\n", who, std::string(holds.status().message()).c_str());
  if (holds.status().code() == absl::StatusCode::kFailedPrecondition) {
    std::fprintf(stderr,
                 "%s: one live run per run directory and checkpoint store: wait for it, stop "
                 "it, or use another --run-dir / checkpoint.store\n",
                 who);
  }
  return holds.status();
}

absl::StatusOr<coord::ServerOptions> ServerOptionsFrom(const SecurityFlags& f,
                                                       const std::string& listen) {
  coord::ServerOptions o;
  o.listen = listen;
  if (!f.token_file.empty()) {
    MT_ASSIGN_OR_RETURN(o.token, rpc::ReadTokenFile(f.token_file));
  }
  o.tls.cert = f.tls_cert;
  o.tls.key = f.tls_key;
  o.tls.ca = f.tls_client_ca;
  o.metrics_listen = f.metrics_listen;
  return o;
}

}  // namespace mt::cli
