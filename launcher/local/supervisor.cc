// Local launcher (see supervisor.h).
#include "launcher/local/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "launcher/local/output.h"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/process.h"
#include "runtime/core/status.h"

extern char** environ;

namespace mt::local {
namespace {

std::atomic<int> g_signals{0};
std::atomic<int> g_last_signal{0};

void OnSignal(int sig) {
  g_last_signal.store(sig);
  g_signals.fetch_add(1);
}

// Threads per worker so N workers do not oversubscribe the machine's cores.
int ThreadsPerWorker(int nproc) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, nproc));
}

std::vector<std::string> WorkerEnv(const LocalOptions& o, const std::string& address, int rank) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (kv.starts_with("MT_RANK=") || kv.starts_with("MT_COORDINATOR=")) continue;
    env.push_back(kv);
  }
  env.push_back("MT_COORDINATOR=" + address);
  env.push_back(fmt::format("MT_RANK={}", rank));
  if (!o.token_file.empty()) env.push_back("MT_COORDINATOR_TOKEN_FILE=" + o.token_file);
  const int threads = ThreadsPerWorker(o.nproc);
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    if (!std::getenv(var)) env.push_back(fmt::format("{}={}", var, threads));
  }
  return env;
}

// Starts worker `rank` in `workers` (tagged with its rank); returns the read end of its output.
absl::StatusOr<int> Spawn(const LocalOptions& o, const std::string& address, int rank,
                          process::ChildGroup& workers) {
  std::vector<std::string> args = {o.meshtrain_exe, "worker", o.job_path,          "--run-dir",
                                   o.run_dir,       "--rank", std::to_string(rank)};
  if (!o.resume.empty()) args.insert(args.end(), {"--resume", o.resume});
  if (o.allow_job_change) args.push_back("--allow-job-change");
  int fds[2];  // the worker's stdout and stderr, read by the supervisor
  if (pipe2(fds, O_CLOEXEC) != 0)
    return absl::InternalError("pipe: " + std::string(strerror(errno)));
  auto pid = workers.Start({.argv = args,
                            .env = WorkerEnv(o, address, rank),
                            .replace_env = true,
                            .own_group = true,
                            .die_with_parent = true,
                            .stdout_fd = fds[1],
                            .stderr_fd = fds[1]},
                           rank);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  return fds[0];
}

// Runs one generation's processes until all exited; reports abnormal exits.
void Supervise(coord::Coordinator& coordinator, int64_t generation, process::ChildGroup& workers,
               LocalResult& result) {
  int signals_seen = 0;
  while (workers.running() > 0) {
    const int signals = g_signals.load();
    if (signals != signals_seen) {
      signals_seen = signals;
      result.interrupted = true;
      result.signal = g_last_signal.load();
      const bool first = signals == 1;
      MT_LOG(kWarn, kInit, "{}: {}", sigabbrev_np(g_last_signal.load()),
             first ? "cancelling the job, stopping workers (again to kill)" : "killing workers");
      coordinator.Cancel(fmt::format("interrupted by SIG{}", sigabbrev_np(g_last_signal.load())));
      workers.Signal(first ? SIGTERM : SIGKILL);
    }
    const auto ended = workers.Next(std::chrono::milliseconds(20));
    if (!ended) continue;
    // A restart exit (kExitRestart) is the coordinator's own verdict carried out, not a failure.
    const bool clean = ended->code == 0 || ended->code == coord::kExitRestart;
    if (!clean) coordinator.ReportExit(generation, ended->tag, ended->Describe());
  }
}

}  // namespace

absl::StatusOr<LocalResult> RunLocal(const LocalOptions& o) {
  MT_RETURN_IF_ERROR(MakeDirs(o.run_dir));
  // No persisted state: this coordinator lives exactly as long as the run (a new `meshtrain
  // run` is a new job run, its data audit starts empty); `meshtrain coordinator --state-dir`
  // is the restartable one.
  MT_ASSIGN_OR_RETURN(auto server,
                      coord::CoordinatorServer::Host(o.coordinator, nullptr, o.server));
  coord::Coordinator& coordinator = server->coordinator();
  MT_RETURN_IF_ERROR(WriteFileAtomic(o.run_dir + "/coordinator.addr", server->address() + "\n"));
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  LocalResult result;
  while (true) {
    const int64_t generation = coordinator.generation();
    process::ChildGroup workers;
    OutputPump pump;
    for (int rank = 0; rank < o.nproc; ++rank) {
      auto out_fd = Spawn(o, server->address(), rank, workers);
      if (!out_fd.ok()) {
        workers.Signal(SIGKILL);  // reaped as `workers` goes
        return out_fd.status();
      }
      pump.Add(*out_fd, fmt::format("[rank {}] ", rank));
    }
    Supervise(coordinator, generation, workers, result);
    pump.Drain();
    const coord::Phase phase = coordinator.phase();
    if (phase == coord::Phase::kSucceeded || phase == coord::Phase::kFailed) break;
    if (coordinator.generation() == generation) {
      // Every process ended but the coordinator saw no failure and no success.
      coordinator.Cancel(
          fmt::format("all {} workers of generation {} exited without "
                      "finishing the job",
                      o.nproc, generation));
      break;
    }
    MT_LOG(kWarn, kInit, "restarting {} workers for generation {}", o.nproc,
           coordinator.generation());
  }
  const coord::v1::JobStatus status = coordinator.Status();
  result.succeeded = coordinator.phase() == coord::Phase::kSucceeded;
  result.generations = status.generation();
  result.restarts = status.restarts();
  result.error = status.error();
  server->Shutdown();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return result;
}

}  // namespace mt::local
