// Starting child processes (the local launcher's workers, a pod's ranks, retrains, kubectl).
// Everything the child needs - argv, environment, descriptors - is prepared before fork, so
// the child runs only async-signal-safe calls until exec (the parent may have threads: a
// malloc or setenv after fork could deadlock on a lock another thread held). A program that
// cannot be executed is an error of Spawn, reported through a close-on-exec pipe, rather
// than an exit status 127 found later.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::process {

struct SpawnOptions {
  // argv[0] is the program: a path, or a name looked up in PATH when `search_path`.
  std::vector<std::string> argv{};
  bool search_path = false;
  // The environment: the parent's with `env` ("KEY=VALUE") added or replacing, or exactly
  // `env` when `replace_env`; then each of `env_defaults` whose KEY is still unset.
  std::vector<std::string> env{};
  bool replace_env = false;
  std::vector<std::string> env_defaults{};
  // Its own process group (set by both sides, so kill(-pid) works whichever runs first).
  bool own_group = false;
  // SIGKILL when the parent dies (PR_SET_PDEATHSIG; a parent already gone: exit 127).
  bool die_with_parent = false;
  // An empty signal mask and default SIGINT/SIGTERM/SIGPIPE handlers: masks and ignored
  // signals survive exec, and a parent that blocks them (for sigwait) would pass that on.
  bool clean_signals = false;
  // Descriptors dup2'd onto 0, 1, 2 in the child (-1: inherited). Create them close-on-exec
  // (pipe2(O_CLOEXEC), open(O_CLOEXEC)) so the child holds no other copy: a pipe's reader
  // sees end-of-file only when every writer is closed.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
};

// Starts the child and returns its pid. Errors: fork failed, or exec failed (names the
// program and errno's text).
absl::StatusOr<pid_t> Spawn(const SpawnOptions& options);

// The exit code of a waitpid status: the code, or 128 + the signal that ended it.
int ExitCode(int wait_status);

// Waits for `pid` (retrying EINTR) and returns ExitCode; an error when waitpid fails.
absl::StatusOr<int> WaitExit(pid_t pid);

// "exit code 3", "killed by signal 9 (KILL)": a waitpid status for logs and reports.
std::string DescribeExit(int wait_status);

// The children one supervisor started and supervises together: the local launcher's workers,
// a pod's ranks (--ranks-per-pod), the control service's retrains. It reaps only its own
// children (never waitpid(-1): another part of the process may have children of its own) and
// stops them one way: SIGTERM (to the child's process group when it has one), a grace period,
// SIGKILL to what still runs, every child reaped. Not thread-safe: one owner, or a lock.
class ChildGroup {
 public:
  struct Ended {
    pid_t pid = -1;
    int tag = 0;          // what Start was given (a rank, a slot)
    int wait_status = 0;  // as waitpid reports it
    int code = 0;  // ExitCode(wait_status): the code, or 128 + the signal; -1: reaped elsewhere
    bool clean() const { return code == 0; }
    std::string Describe() const {
      return code < 0 ? "ended (its status was reaped elsewhere)" : DescribeExit(wait_status);
    }
  };

  ChildGroup() = default;
  ChildGroup(const ChildGroup&) = delete;
  ChildGroup& operator=(const ChildGroup&) = delete;
  // Children still running are stopped (Stop with the default grace).
  ~ChildGroup();

  // Spawns a child (Spawn's errors) and supervises it under `tag`.
  absl::StatusOr<pid_t> Start(const SpawnOptions& options, int tag);
  // One child that has ended, waiting up to `timeout` for one (0: only look); nullopt when
  // none ended in that time or none is left.
  std::optional<Ended> Next(std::chrono::milliseconds timeout);
  // Sends `sig` to every child still running (to its group when it has its own).
  void Signal(int sig);
  // SIGTERM to every running child, SIGKILL after `grace` to those still running; returns
  // once every child has been reaped, with how each ended (those Next has not returned).
  std::vector<Ended> Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  size_t running() const { return children_.size(); }

 private:
  struct Child {
    pid_t pid;
    int tag;
    bool group;  // its own process group: signalled as -pid
  };
  std::optional<Ended> Reap();  // one ended child, without waiting
  std::vector<Child> children_;
};

}  // namespace mt::process
