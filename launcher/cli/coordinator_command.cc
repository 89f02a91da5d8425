// `meshtrain coordinator JOB.yaml --listen ADDR`: the coordinator alone (for pods and
// clusters), and `meshtrain status`: what a running coordinator knows about its job.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "launcher/cli/job_setup.h"
#include "launcher/cli/register_run.h"
#include "launcher/coordinator/client.h"
#include "launcher/coordinator/server.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/text.h"
#include "runtime/storage/blob_store.h"
#include "runtime/storage/run_hold.h"

namespace mt::cli {
namespace {

struct CoordinatorArgs {
  std::string job;
  std::string listen = "0.0.0.0:29400";
  int world = 0;
  std::string state_dir;
  bool stay = false;  // keep serving status after the job ends (a Deployment's coordinator)
  SecurityFlags security;
};

int RunCoordinator(const CoordinatorArgs& args) {
  auto spec = LoadJobForWorld(args.job, args.world);
  if (!spec) return kExitInvalid;
  const int world =
      args.world > 0 ? args.world : spec->mesh().dp() * spec->mesh().tp() * spec->mesh().pp();
  auto server_options = ServerOptionsFrom(args.security, args.listen);
  if (!server_options.ok()) {
    return Fail("meshtrain coordinator", server_options.status(), kExitInvalid);
  }
  std::shared_ptr<comm::Store> state;
  if (!args.state_dir.empty()) {
    auto made = comm::MakeFileStore(args.state_dir);
    if (!made.ok()) {
      return Fail("meshtrain coordinator --state-dir", made.status(), kExitInvalid);
    }
    state = *made;
  }
  // One live coordinator per checkpoint store (and state dir).
  auto holds = HoldRunOrSay(*spec, args.state_dir, "meshtrain coordinator");
  if (!holds.ok()) return TrainingExitCode(holds.status());
  coord::CoordinatorConfig config = CoordinatorConfigFor(*spec, world);
  if (!args.state_dir.empty()) config.data_audit_path = args.state_dir + "/data-audit.jsonl";
  const std::string run_dir = args.state_dir.empty() ? "." : args.state_dir;
  config.feed = ControlFeedFor(*spec, run_dir);
  config.protect = ProtectFor(*spec, run_dir);
  auto server = coord::CoordinatorServer::Host(config, state, *server_options);
  if (!server.ok()) {
    return Fail("meshtrain coordinator", server.status(), kExitFailure);
  }
  std::printf("coordinator for job %s listening on %s\n",
              (*server)->coordinator().config().job_id.c_str(), (*server)->address().c_str());
  if (!(*server)->metrics_address().empty()) {
    std::printf("metrics on http://%s/metrics\n", (*server)->metrics_address().c_str());
  }
  std::fflush(stdout);
  const coord::Phase phase = (*server)->coordinator().WaitDone(std::chrono::hours(24 * 365));
  const std::string error = (*server)->coordinator().Status().error();
  // Let the last heartbeats learn the outcome before the port closes.
  std::this_thread::sleep_for(std::chrono::duration<double>(spec->fault_tolerance().heartbeat_s()));
  if (args.stay) {
    // A Deployment restarts a process that exits: stay up (status, /metrics) until deleted.
    std::printf("job %s; serving its status until terminated\n",
                phase == coord::Phase::kSucceeded ? "succeeded" : "failed");
    std::fflush(stdout);
    while (true) pause();
  }
  (*server)->Shutdown();
  if (phase != coord::Phase::kSucceeded) {
    std::fprintf(stderr, "meshtrain coordinator: job failed: %s\n", error.c_str());
    return kExitFailure;
  }
  std::printf("job succeeded\n");
  return kExitOk;
}

// ---- status ----

struct StatusArgs {
  std::string coordinator;
  std::string run_dir;
  std::string token_file;
  bool json = false;
};

std::string Collective(const coord::v1::CollectiveInfo& c) {
  return c.seq() == 0 ? "-"
                      : fmt::format("{} #{} {} ({} B)", c.op(), c.seq(), c.state(), c.bytes());
}

std::string FormatStatus(const coord::v1::JobStatus& s) {
  std::string out = fmt::format("job {}: {} (generation {}, restarts {}/{}, {} of {} ranks)\n",
                                s.job_id(), s.state(), s.generation(), s.restarts(),
                                s.max_restarts(), s.joined(), s.world_size());
  if (!s.error().empty()) out += fmt::format("last error: {}\n", s.error());
  out += fmt::format("data: {} distinct shards read so far\n", s.shards_read());
  if (s.checkpoint_version() > 0) {
    out += fmt::format("checkpoint: version {} committed last\n", s.checkpoint_version());
  }
  out += fmt::format("{:>4}  {:<9} {:>7}  {:<7} {:>9}  {:>8}  {}\n", "rank", "state", "step",
                     "phase", "tok/s", "hb age", "last collective");
  for (const auto& r : s.ranks()) {
    out += fmt::format("{:>4}  {:<9} {:>7}  {:<7} {:>9.0f}  {:>7.1f}s  world {}   {} pid {}\n",
                       r.rank(), r.state(), r.step(), r.phase(), r.tokens_per_s(),
                       r.heartbeat_age_s(), Collective(r.last_collective()), r.host(), r.pid());
    for (const auto& c : r.collectives()) {  // dp, tp, pp: which communicator a rank is in
      out += fmt::format("{:>56}{} {}\n", "", c.comm(), Collective(c));
    }
  }
  for (const auto& line : s.stuck()) out += "stuck: " + line + "\n";
  return out;
}

// The holder of RUN_DIR/run.lock while a run is live there ("" when none); creates nothing.
std::string LiveHolder(const std::string& run_dir) {
  if (!std::filesystem::exists(run_dir + "/" + storage::kRunHoldName)) return "";
  auto dir = storage::OpenFileStore(run_dir);
  if (!dir.ok()) return "";
  auto hold = (*dir)->TakeHold(storage::kRunHoldName, "meshtrain status (probe)");
  if (hold.ok()) return "";  // nobody holds it: released at once
  const std::string message(hold.status().message());
  const size_t by = message.find("is held by ");
  return by == std::string::npos ? message : message.substr(by + 11);
}

// A run dir without a live coordinator: a one-process run training, a finished run, or one
// that ended without finishing.
int RunDirStatus(const std::string& run_dir, const std::string& holder) {
  if (!holder.empty()) {
    const std::string metrics = ReadFile(run_dir + "/metrics.jsonl").value_or("");
    const auto lines = text::Split(metrics, '\n');
    std::string last = "none yet";
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (!text::Trim(*it).empty()) {
        last = std::string(*it);
        break;
      }
    }
    std::printf(
        "a one-process run is training in %s (%s); it has no coordinator to ask. Its "
        "latest record (metrics.jsonl): %s\n",
        run_dir.c_str(), holder.c_str(), last.c_str());
    return kExitOk;
  }
  auto summary = ReadFile(run_dir + "/summary.json");
  if (!summary.ok()) {
    std::printf("no run is live in %s, and none finished there (no summary.json)%s\n",
                run_dir.c_str(),
                std::filesystem::exists(run_dir + "/metrics.jsonl") ? "; see metrics.jsonl" : "");
    return kExitFailure;
  }
  const auto j = nlohmann::json::parse(*summary, nullptr, false);
  std::string registered;
  if (auto as = RegisteredAs(j)) registered = ", registered as " + *as;

  std::printf("run %s is finished: step %lld, final loss %.4f%s (summary.json)\n", run_dir.c_str(),
              static_cast<long long>(j.is_discarded() ? 0 : j.value("final_step", 0)),
              j.is_discarded() ? 0.0 : j.value("final_loss", 0.0), registered.c_str());
  return kExitOk;
}

int RunStatus(const StatusArgs& args) {
  coord::ClientOptions o;
  o.address = args.coordinator;
  if (o.address.empty() && !args.run_dir.empty()) {
    if (!std::filesystem::is_directory(args.run_dir)) {
      std::fprintf(stderr, "meshtrain status: --run-dir %s: no such directory\n",
                   args.run_dir.c_str());
      return kExitInvalid;
    }
    const std::string holder = LiveHolder(args.run_dir);
    auto text = ReadFile(args.run_dir + "/coordinator.addr");
    if (holder.empty() || !text.ok()) return RunDirStatus(args.run_dir, holder);
    o.address = std::string(text::Trim(*text));
  }
  if (o.address.empty()) {
    std::fprintf(stderr, "meshtrain status: pass --coordinator HOST:PORT or --run-dir DIR\n");
    return kExitInvalid;
  }
  if (!args.token_file.empty()) {
    auto token = rpc::ReadTokenFile(args.token_file);
    if (!token.ok()) {
      return Fail("meshtrain status", token.status(), kExitInvalid);
    }
    o.token = *token;
  }
  o.rpc_timeout_s = 5;
  auto client = coord::CoordinatorClient::Connect(o);
  auto status =
      client.ok() ? (*client)->GetStatus() : absl::StatusOr<coord::v1::JobStatus>(client.status());
  if (!status.ok()) {
    std::fprintf(stderr,
                 "meshtrain status: no coordinator answers at %s (the job may have "
                 "ended): %s\n",
                 o.address.c_str(), std::string(status.status().message()).c_str());
    return kExitFailure;
  }
  if (args.json) {
    std::string json;
    google::protobuf::util::JsonPrintOptions po;
    po.always_print_primitive_fields = true;
    po.preserve_proto_field_names = true;  // snake_case, like summary.json
    (void)google::protobuf::util::MessageToJsonString(*status, &json, po);
    std::printf("%s\n", json.c_str());
  } else {
    std::printf("%s", FormatStatus(*status).c_str());
  }
  return kExitOk;
}

}  // namespace

Command AddCoordinatorCommand(CLI::App& root) {
  auto args = std::make_shared<CoordinatorArgs>();
  CLI::App* app = root.add_subcommand("coordinator", "Run a job's coordinator alone (pods)");
  app->footer(
      "Serves rendezvous, heartbeats, the bootstrap store and job status until the job "
      "succeeds (exit 0) or fails (exit 1). Workers find it through MT_COORDINATOR.");
  app->add_option("job", args->job, "Job file (YAML)")->required();
  app->add_option("--listen", args->listen, "HOST:PORT to serve on")->capture_default_str();
  app->add_option("--world", args->world, "World size; default: the mesh size")->check(AtLeast(1));
  app->add_flag("--stay", args->stay,
                "After the job ends, keep serving its status until terminated (Kubernetes "
                "Deployments restart processes that exit)");
  app->add_option("--state-dir", args->state_dir,
                  "Directory for the coordinator's state, so a restarted coordinator continues");
  AddServerFlags(app, args->security);
  return Command{app, [args] { return RunCoordinator(*args); }};
}

Command AddStatusCommand(CLI::App& root) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* app = root.add_subcommand("status", "Show a running job's state, per rank");
  app->add_option("--coordinator", args->coordinator, "Coordinator HOST:PORT");
  app->add_option("--run-dir", args->run_dir, "Run dir of a local run (its coordinator.addr)");
  app->add_option("--token-file", args->token_file, "Bearer token file");
  app->add_flag("--json", args->json, "Print the status as JSON");
  return Command{app, [args] { return RunStatus(*args); }};
}

}  // namespace mt::cli
