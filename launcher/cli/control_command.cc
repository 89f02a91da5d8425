// `meshtrain control --listen ADDR --db FILE`: the control service alone (a Deployment in
// Kubernetes, a long-running process elsewhere): registry, promotion gate, retrain trigger,
// audit log and metric sinks over gRPC, until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "control/service/server.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/job_setup.h"
#include "launcher/k8s/retrain_submitter.h"
#include "runtime/core/file.h"
#include "runtime/core/params.h"

namespace mt::cli {
namespace {

struct ControlArgs {
  std::string listen = "0.0.0.0:29500";
  std::string db;
  std::string runs_dir;
  std::string addr_file;
  std::string advertise;            // HOST:PORT retrains (and jobs) reach this service at
  std::string submitter = "local";  // local processes, or Kubernetes Jobs (k8s)
  k8s::RenderOptions k8s;
  SecurityFlags security;
};

int RunControl(const ControlArgs& args) {
  const char* who = "meshtrain control";
  // Block the stop signals before any thread starts (threads inherit the mask), then wait for
  // them here: a clean shutdown instead of dying inside an RPC.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto server_options = ServerOptionsFrom(args.security, args.listen);
  if (!server_options.ok()) return Fail(who, server_options.status(), kExitInvalid);
  control::LocalControlOptions o;
  o.db = args.db;
  o.runs_dir = args.runs_dir;
  if (args.submitter == "k8s") {
    k8s::KubectlOptions kubectl;
    if (!params::Kubectl().empty()) kubectl.kubectl = params::Kubectl();
    kubectl.namespace_name = args.k8s.namespace_name;
    o.submitter = std::make_shared<k8s::RetrainSubmitter>(kubectl, args.k8s);
  }
  auto local = control::LocalControl::Open(o);
  if (!local.ok()) return Fail(who, local.status(), kExitInvalid);
  const rpc::ServerOptions& so = *server_options;
  auto server = control::ControlServer::Start(std::move(*local), so);
  if (!server.ok()) return Fail(who, server.status(), kExitFailure);
  if (!args.advertise.empty()) (*server)->control().Advertise(args.advertise, so.token);
  std::printf("control service listening on %s (registry %s)\n", (*server)->address().c_str(),
              args.db.c_str());
  if (so.token.empty() && !args.listen.starts_with("127.") &&
      !args.listen.starts_with("localhost")) {
    std::fprintf(stderr,
                 "meshtrain control: WARNING: %s is reachable from other hosts and no "
                 "--token-file is set: anyone who reaches it can register, promote and start "
                 "retrains\n",
                 args.listen.c_str());
  }
  if (!(*server)->metrics_address().empty()) {
    std::printf("metrics on http://%s/metrics\n", (*server)->metrics_address().c_str());
  }
  std::fflush(stdout);
  if (!args.addr_file.empty()) {
    if (absl::Status s = WriteFileAtomic(args.addr_file, (*server)->address() + "\n"); !s.ok()) {
      return Fail(who, s, kExitFailure);
    }
  }
  int sig = 0;
  sigwait(&stop, &sig);
  std::printf("control service: SIG%s, stopping\n", sigabbrev_np(sig));
  (*server)->Shutdown();
  return kExitOk;
}

}  // namespace

Command AddControlCommand(CLI::App& root) {
  auto args = std::make_shared<ControlArgs>();
  CLI::App* app = root.add_subcommand("control", "Run the control service (registry, retraining)");
  app->footer(
      "Serves the Control gRPC API (proto/meshtrain/v1/control.proto) over the registry file "
      "until SIGINT/SIGTERM. Retrains (production metric below the job's control.retrain.below, "
      "or new data) run as `meshtrain finetune` processes under --runs-dir. Clients: "
      "`meshtrain registry|audit --control HOST:PORT`, and jobs with control.endpoint.");
  app->add_option("--listen", args->listen, "HOST:PORT to serve on (port 0: any)")
      ->capture_default_str();
  app->add_option("--db", args->db, "The registry database (SQLite file; created if missing)")
      ->required();
  app->add_option("--runs-dir", args->runs_dir,
                  "Where retrain jobs run and reported metrics are written (default: the "
                  "database's directory)");
  app->add_option("--addr-file", args->addr_file, "Write the bound HOST:PORT here once listening");
  app->add_option("--advertise", args->advertise,
                  "HOST:PORT retrains reach this service at (default: the listen address, "
                  "loopback for 0.0.0.0); in Kubernetes the control Service's name");
  app->add_option("--submitter", args->submitter,
                  "Where retrains run: local (processes under --runs-dir) or k8s (Kubernetes "
                  "Jobs through kubectl; needs --advertise)")
      ->check(CLI::IsMember({"local", "k8s"}))
      ->capture_default_str();
  app->add_option("--k8s-namespace", args->k8s.namespace_name, "Namespace of k8s retrains");
  app->add_option("--k8s-image", args->k8s.image, "Image of k8s retrains' workers");
  AddServerFlags(app, args->security);
  return Command{app, [args] { return RunControl(*args); }};
}

}  // namespace mt::cli
