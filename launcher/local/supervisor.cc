// Local launcher (see supervisor.h).
#include "launcher/local/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
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

struct Child {
  int rank = 0;
  pid_t pid = -1;
  int out_fd = -1;
  bool exited = false;
};

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return fmt::format("killed by signal {} ({})", sig,
                       sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
  }
  return fmt::format("exit code {}", WEXITSTATUS(status));
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

absl::StatusOr<Child> Spawn(const LocalOptions& o, const std::string& address, int rank) {
  std::vector<std::string> args = {o.meshtrain_exe, "worker", o.job_path,          "--run-dir",
                                   o.run_dir,       "--rank", std::to_string(rank)};
  if (!o.resume.empty()) args.insert(args.end(), {"--resume", o.resume});
  int fds[2];  // the worker's stdout and stderr, read by the supervisor
  if (pipe2(fds, O_CLOEXEC) != 0)
    return absl::InternalError("pipe: " + std::string(strerror(errno)));
  auto pid = process::Spawn({.argv = args,
                             .env = WorkerEnv(o, address, rank),
                             .replace_env = true,
                             .own_group = true,
                             .die_with_parent = true,
                             .stdout_fd = fds[1],
                             .stderr_fd = fds[1]});
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  return Child{rank, *pid, fds[0], false};
}

void SignalAll(std::vector<Child>& children, int sig) {
  for (Child& c : children) {
    if (!c.exited) kill(c.pid, sig);
  }
}

// Runs one generation's processes until all exited; reports abnormal exits.
void Supervise(coord::Coordinator& coordinator, int64_t generation, std::vector<Child>& children,
               LocalResult& result) {
  int signals_seen = 0;
  size_t alive = children.size();
  while (alive > 0) {
    const int signals = g_signals.load();
    if (signals != signals_seen) {
      signals_seen = signals;
      result.interrupted = true;
      const bool first = signals == 1;
      MT_LOG(kWarn, kInit, "{}: {}", sigabbrev_np(g_last_signal.load()),
             first ? "cancelling the job, stopping workers (again to kill)" : "killing workers");
      coordinator.Cancel(fmt::format("interrupted by SIG{}", sigabbrev_np(g_last_signal.load())));
      SignalAll(children, first ? SIGTERM : SIGKILL);
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    for (Child& c : children) {
      if (c.pid != pid) continue;
      c.exited = true;
      --alive;
      const bool clean = WIFEXITED(status) &&
                         (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == coord::kExitRestart);
      if (!clean) coordinator.ReportExit(generation, c.rank, DescribeExit(status));
    }
  }
}

}  // namespace

absl::StatusOr<LocalResult> RunLocal(const LocalOptions& o) {
  MT_RETURN_IF_ERROR(MakeDirs(o.run_dir));
  // A new run: its data audit starts empty (a resumed coordinator, --state-dir, continues one).
  if (!o.coordinator.data_audit_path.empty()) std::remove(o.coordinator.data_audit_path.c_str());
  // No persisted state: this coordinator lives exactly as long as the run (a new `meshtrain
  // run` is a new job run); `meshtrain coordinator --state-dir` is the restartable one.
  MT_ASSIGN_OR_RETURN(auto made, coord::Coordinator::Create(o.coordinator, nullptr));
  std::shared_ptr<coord::Coordinator> coordinator = std::move(made);
  MT_ASSIGN_OR_RETURN(auto server, coord::CoordinatorServer::Start(coordinator, o.server));
  MT_RETURN_IF_ERROR(WriteFileAtomic(o.run_dir + "/coordinator.addr", server->address() + "\n"));
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  LocalResult result;
  while (true) {
    const int64_t generation = coordinator->generation();
    std::vector<Child> children;
    OutputPump pump;
    for (int rank = 0; rank < o.nproc; ++rank) {
      auto child = Spawn(o, server->address(), rank);
      if (!child.ok()) {
        SignalAll(children, SIGKILL);
        return child.status();
      }
      pump.Add(child->out_fd, fmt::format("[rank {}] ", rank));
      children.push_back(*child);
    }
    Supervise(*coordinator, generation, children, result);
    pump.Drain();
    const coord::Phase phase = coordinator->phase();
    if (phase == coord::Phase::kSucceeded || phase == coord::Phase::kFailed) break;
    if (coordinator->generation() == generation) {
      // Every process ended but the coordinator saw no failure and no success.
      coordinator->Cancel(
          fmt::format("all {} workers of generation {} exited without "
                      "finishing the job",
                      o.nproc, generation));
      break;
    }
    MT_LOG(kWarn, kInit, "restarting {} workers for generation {}", o.nproc,
           coordinator->generation());
  }
  const coord::v1::JobStatus status = coordinator->Status();
  result.succeeded = coordinator->phase() == coord::Phase::kSucceeded;
  result.generations = status.generation();
  result.restarts = status.restarts();
  result.error = status.error();
  server->Shutdown();
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return result;
}

}  // namespace mt::local
