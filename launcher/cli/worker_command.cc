// `meshtrain worker JOB.yaml`: one rank of a job. Where its rank and coordinator come from:
//   --rank / MT_RANK (local launcher), JOB_COMPLETION_INDEX (Kubernetes Indexed Job), or
//   OMPI_COMM_WORLD_RANK (mpirun); --coordinator / MT_COORDINATOR, or under mpirun without
//   one, rank 0 hosts the coordinator in process and MPI broadcasts its address.
// Exit codes: 0 done, 1 failed, 2 invalid input, 3 stopped for a restart, 4 coordinator
// unreachable (retryable). With --ranks-per-pod N (Kubernetes pods with N GPUs) it starts N
// workers, ranks JOB_COMPLETION_INDEX * N + 0..N-1 on slots 0..N-1, and exits with the
// first failure (2 when any found the input invalid).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "launcher/cli/job_setup.h"
#include "launcher/cli/register_run.h"
#include "launcher/coordinator/server.h"
#include "launcher/k8s/render.h"
#include "launcher/worker/session.h"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/params.h"
#include "runtime/core/process.h"
#include "runtime/core/status.h"
#include "runtime/core/text.h"
#include "runtime/job/job_id.h"
#include "runtime/kernels/cpu/gemm.h"
#include "train/preflight.h"
#include "train/trainer.h"
#ifdef MT_HAVE_BACKEND_MPI
#include "runtime/comm/mpi/mpi_backend.h"
#endif

namespace mt::cli {
namespace {

struct WorkerArgs {
  std::string job;
  std::string run_dir;
  std::string coordinator;
  int rank = -1;
  int slot = -1;                // -1: OMPI_COMM_WORLD_LOCAL_RANK or 0
  int ranks_per_pod = 1;        // > 1: start that many workers (see the top)
  bool register_model = false;  // rank 0 registers the result (no `meshtrain run` around it)
  std::string resume;           // "" : the job's checkpoint.resume
  bool allow_job_change = false;
};

static_assert(coord::kExitRestart == k8s::kExitRestart &&
                  coord::kExitCoordinatorLost == k8s::kExitCoordinatorLost &&
                  kExitInvalid == k8s::kExitInvalid,
              "the exit codes the pod failure policy matches");

std::optional<int> EnvInt(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  auto parsed = text::ToInt(v);
  if (!parsed) return std::nullopt;
  return static_cast<int>(*parsed);
}

int RequestedRank(const WorkerArgs& a) {
  if (a.rank >= 0) return a.rank;
  if (auto k8s = EnvInt("JOB_COMPLETION_INDEX")) return *k8s;
  if (auto mpi = EnvInt("OMPI_COMM_WORLD_RANK")) return *mpi;
  if (params::Rank() >= 0) return static_cast<int>(params::Rank());
  return -1;
}

// Join refusals a replacement pod meets (coordinator.h kJoinRefusal): the generation is still
// closed (the coordinator has not yet seen the old pod die) - exit 3, so the pod is replaced
// and joins the next generation; the job is already over - 0 when it succeeded, 1 when it
// failed. Other refusals (another job's coordinator) keep their exit code.
std::optional<int> JoinRefusal(const absl::Status& s) {
  const auto why = s.GetPayload(coord::kJoinRefusal);
  if (!why) return std::nullopt;
  const std::string kind(*why);
  if (kind == "closed") return coord::kExitRestart;
  if (kind == "succeeded") return kExitOk;
  if (kind == "failed") return kExitFailure;
  return std::nullopt;
}

[[noreturn]] void StopNow(int code, const std::string& message) {
  if (code == 0) {
    MT_LOG(kInfo, kCoord, "{}", message);
  } else {
    MT_LOG(kWarn, kCoord, "{}", message);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

// Rank 0's part under mpirun: the run's holds (kept in `holds`), then the coordinator.
absl::StatusOr<std::string> HostOnRankZero(const meshtrain::v1::JobSpec& spec, int world,
                                           const std::string& run_dir,
                                           std::unique_ptr<coord::CoordinatorServer>& out,
                                           std::shared_ptr<storage::RunHolds>& holds) {
  MT_ASSIGN_OR_RETURN(holds, HoldRunOrSay(spec, run_dir, "meshtrain worker (mpirun rank 0)"));
  // One node: loopback. Several: listen everywhere and advertise our host name.
  const bool one_node = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE").value_or(world) == world;
  coord::ServerOptions o;
  o.listen = one_node ? "127.0.0.1:0" : "0.0.0.0:0";
  coord::CoordinatorConfig config = CoordinatorConfigFor(spec, world);
  MT_RETURN_IF_ERROR(MakeDirs(run_dir));
  config.data_audit_path = run_dir + "/data-audit.jsonl";
  // Retention keeps what the registry references, as under `run` and `coordinator`.
  config.protect = ProtectFor(spec, run_dir);
  MT_ASSIGN_OR_RETURN(out, coord::CoordinatorServer::Host(config, nullptr, o));  // a new run
  std::string address = out->address();
  if (!one_node) {
    address = fmt::format("{}:{}", log::HostName(), address.substr(address.rfind(':') + 1));
  }
  return address;
}

// Under mpirun without a coordinator address: rank 0 serves one, MPI tells the others where
// (an empty address when rank 0 could not: every rank then fails instead of waiting).
absl::StatusOr<std::string> HostCoordinatorUnderMpi(const meshtrain::v1::JobSpec& spec, int world,
                                                    const std::string& run_dir,
                                                    std::unique_ptr<coord::CoordinatorServer>& out,
                                                    std::shared_ptr<storage::RunHolds>& holds) {
#ifdef MT_HAVE_BACKEND_MPI
  const int rank = EnvInt("OMPI_COMM_WORLD_RANK").value_or(0);
  absl::StatusOr<std::string> hosted = std::string();
  if (rank == 0) hosted = HostOnRankZero(spec, world, run_dir, out, holds);
  MT_ASSIGN_OR_RETURN(std::string address,
                      comm::MpiBroadcastString(hosted.ok() ? *hosted : std::string(), 0));
  if (!hosted.ok()) return hosted.status();
  if (address.empty()) {
    return absl::FailedPreconditionError("rank 0 could not host the coordinator (see its error)");
  }
  return address;
#else
  (void)spec;
  (void)world;
  (void)run_dir;
  (void)out;
  (void)holds;
  return absl::UnimplementedError("this build has no MPI: pass --coordinator ADDR");
#endif
}

// Several ranks on one machine under mpirun: share the cores unless the user chose.
void ShareCoresUnderMpi() {
  const auto local = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (!local || std::getenv("OMP_NUM_THREADS") || std::getenv("OPENBLAS_NUM_THREADS")) return;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  cpu::SetCpuThreads(std::max(1, cores / std::max(1, *local)));
}

int RunWorkerCommand(const WorkerArgs& args) {
  ShareCoresUnderMpi();
  const std::optional<int> mpi_world = EnvInt("OMPI_COMM_WORLD_SIZE");
  auto spec = LoadJobForWorld(args.job, mpi_world.value_or(0));
  if (!spec) return kExitInvalid;
  train::PreflightOptions preflight;  // what `validate` and `run` check, for this process
  preflight.ranks_here = 1;
  if (absl::Status st = train::Preflight(*spec, preflight); !st.ok()) {
    return Fail("meshtrain worker", st, kExitInvalid);  // before the backend (nccl) starts
  }
  const int world = spec->mesh().dp() * spec->mesh().tp() * spec->mesh().pp();
  worker::WorkerOptions o;
  o.spec = *spec;
  o.job_id = job::JobId(*spec);
  o.requested_rank = RequestedRank(args);
  o.run_dir = args.run_dir.empty() ? "runs/" + spec->name() : args.run_dir;
  o.under_mpirun = mpi_world.has_value();
  o.slot = args.slot >= 0 ? args.slot : EnvInt("OMPI_COMM_WORLD_LOCAL_RANK").value_or(0);
  o.on_stop = StopNow;
  o.resume = args.resume;
  o.allow_job_change = args.allow_job_change;
  std::unique_ptr<coord::CoordinatorServer> hosted;
  std::shared_ptr<storage::RunHolds> holds;  // rank 0 under mpirun: the run's, while it hosts
  if (!args.coordinator.empty() || !params::Coordinator().empty()) {
    auto client = coord::ClientOptionsFromEnv();
    if (!args.coordinator.empty()) {
      if (!client.ok()) client = coord::ClientOptions{};
      client->address = args.coordinator;
    }
    if (!client.ok()) return Fail("meshtrain worker", client.status(), kExitInvalid);
    o.coordinator = *client;
  } else if (o.under_mpirun) {
    auto address = HostCoordinatorUnderMpi(*spec, world, o.run_dir, hosted, holds);
    if (!address.ok()) {
      std::fprintf(stderr, "meshtrain worker: %s\n",
                   std::string(address.status().message()).c_str());
      return TrainingExitCode(address.status());
    }
    o.coordinator.address = *address;
  } else {
    std::fprintf(stderr,
                 "meshtrain worker: no coordinator: pass --coordinator HOST:PORT or set "
                 "MT_COORDINATOR (or start under mpirun)\n");
    return kExitInvalid;
  }
  auto result = worker::RunWorker(o);
  if (result.ok() && args.register_model && o.requested_rank == 0) {
    auto line = RegisterRun(*spec, o.run_dir);
    if (!line.ok())
      return Fail("meshtrain worker: registering the model", line.status(), kExitFailure);
    std::printf("%s\n", line->c_str());
  }
  if (hosted) {
    // The other ranks still report to the coordinator this process hosts.
    hosted->coordinator().WaitDone(
        std::chrono::seconds(static_cast<int64_t>(spec->fault_tolerance().rendezvous_timeout_s())));
    hosted->Shutdown();
  }
  if (!result.ok()) {
    // No coordinator to reach (refused, or no answer within the rendezvous timeout):
    // retryable, unlike a bad job.
    const auto why = result.status().code();
    int code = why == absl::StatusCode::kUnavailable || why == absl::StatusCode::kDeadlineExceeded
                   ? coord::kExitCoordinatorLost
                   : TrainingExitCode(result.status());
    if (auto refused = JoinRefusal(result.status())) code = *refused;
    return Fail("meshtrain worker", result.status(), code);
  }
  return kExitOk;
}

// A pod's ranks get this long after SIGTERM before SIGKILL: under Kubernetes' default 30 s
// termination grace, so the pod ends its ranks itself before the kubelet kills it.
constexpr std::chrono::seconds kPodGrace{20};

// --ranks-per-pod N: N workers of consecutive ranks in this pod, supervised together.
int RunPodRanks(const WorkerArgs& args) {
  const auto index = EnvInt("JOB_COMPLETION_INDEX");
  if (!index) {
    std::fprintf(stderr,
                 "meshtrain worker: --ranks-per-pod needs JOB_COMPLETION_INDEX (an Indexed "
                 "Job's pod)\n");
    return kExitInvalid;
  }
  // The pod's cores, shared between its ranks unless the user chose.
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1, cores / args.ranks_per_pod));
  const std::vector<std::string> thread_env = {"OMP_NUM_THREADS=" + threads,
                                               "OPENBLAS_NUM_THREADS=" + threads};
  process::ChildGroup ranks;
  int code = kExitOk;
  for (int i = 0; i < args.ranks_per_pod; ++i) {
    std::vector<std::string> argv = {"/proc/self/exe",
                                     "worker",
                                     args.job,
                                     "--rank",
                                     std::to_string(*index * args.ranks_per_pod + i),
                                     "--slot",
                                     std::to_string(i)};
    if (!args.run_dir.empty()) argv.insert(argv.end(), {"--run-dir", args.run_dir});
    if (!args.coordinator.empty()) argv.insert(argv.end(), {"--coordinator", args.coordinator});
    if (!args.resume.empty()) argv.insert(argv.end(), {"--resume", args.resume});
    if (args.allow_job_change) argv.push_back("--allow-job-change");
    if (args.register_model) argv.push_back("--register");
    auto pid = ranks.Start({.argv = argv, .env_defaults = thread_env}, i);
    if (!pid.ok()) {  // a pod with missing ranks could never finish
      std::fprintf(stderr, "meshtrain worker: %s\n", std::string(pid.status().message()).c_str());
      code = kExitFailure;
      break;
    }
  }
  // The pod's code: the first failure's (an invalid job's 2 wins over others), else 0.
  auto record = [&code](const process::ChildGroup::Ended& e) {
    if (e.code != 0 && (code == kExitOk || e.code == kExitInvalid)) code = e.code;
  };
  // One rank failed (or could not start): the pod fails as a whole, the others are stopped.
  while (code == kExitOk && ranks.running() > 0) {
    if (auto e = ranks.Next(std::chrono::seconds(1))) record(*e);
  }
  for (const auto& e : ranks.Stop(kPodGrace)) record(e);
  return code;
}

}  // namespace

Command AddWorkerCommand(CLI::App& root) {
  auto args = std::make_shared<WorkerArgs>();
  CLI::App* app = root.add_subcommand("worker", "Run one rank of a job (started by a launcher)");
  app->footer(
      "Joins the job's coordinator, builds the collective backend, trains its share and reports "
      "the outcome. Rank: --rank, JOB_COMPLETION_INDEX (Kubernetes), OMPI_COMM_WORLD_RANK "
      "(mpirun) or MT_RANK. Coordinator: --coordinator, MT_COORDINATOR, or under mpirun rank 0 "
      "hosts one. Exit 0 done, 1 failed, 2 invalid input, 3 stopped for a restart, 4 the "
      "coordinator could not be reached (retryable).");
  app->add_option("job", args->job, "Job file (YAML)")->required();
  app->add_option("--run-dir", args->run_dir, "Directory for metrics and results (rank 0 writes)");
  app->add_option("--coordinator", args->coordinator, "Coordinator HOST:PORT");
  app->add_option("--rank", args->rank, "This worker's rank")->check(AtLeast(0));
  app->add_option("--resume", args->resume,
                  "latest, never or a checkpoint version (default: the job's checkpoint.resume; "
                  "restarted generations always resume the latest)");
  app->add_flag("--allow-job-change", args->allow_job_change,
                "Resume although the job changes the checkpoint's trajectory");
  app->add_flag("--register", args->register_model,
                "Rank 0 registers the trained model with the job's control service and applies "
                "the promotion gate (what `meshtrain run` does; Kubernetes and mpirun jobs)");
  app->add_option("--slot", args->slot, "Local slot (GPU index) of this rank")->check(AtLeast(0));
  app->add_option("--ranks-per-pod", args->ranks_per_pod,
                  "Start this many workers here: ranks JOB_COMPLETION_INDEX * N + 0..N-1")
      ->check(AtLeast(1));
  return Command{app, [args] {
                   return args->ranks_per_pod > 1 ? RunPodRanks(*args) : RunWorkerCommand(*args);
                 }};
}

}  // namespace mt::cli
