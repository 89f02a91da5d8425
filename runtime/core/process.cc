// Child processes (see process.h).
#include "runtime/core/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "fmt/format.h"
#include "runtime/core/status.h"

extern char** environ;

namespace mt::process {
namespace {

std::string Key(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// Whether `env` sets the variable `kv` names ("NAME=value").
bool Sets(const std::vector<std::string>& env, const std::string& kv) {
  for (const std::string& e : env) {
    if (Key(e) == Key(kv)) return true;
  }
  return false;
}

// The child's environment as process.h describes, built in the parent.
std::vector<std::string> ChildEnv(const SpawnOptions& o) {
  std::vector<std::string> env;
  if (!o.replace_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (!Sets(o.env, *e)) env.push_back(*e);
    }
  }
  env.insert(env.end(), o.env.begin(), o.env.end());
  for (const std::string& d : o.env_defaults) {
    if (!Sets(env, d)) env.push_back(d);
  }
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (std::string& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// Child side: async-signal-safe calls only. Writes errno to `ready` if exec fails.
[[noreturn]] void RunChild(const SpawnOptions& o, char** argv, char** envp, int ready,
                           pid_t parent) {
  if (o.own_group) setpgid(0, 0);
  if (o.die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
  }
  if (o.clean_signals) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGPIPE}) signal(sig, SIG_DFL);
  }
  const int fds[3] = {o.stdin_fd, o.stdout_fd, o.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    if (fds[target] >= 0 && fds[target] != target) dup2(fds[target], target);
  }
  if (o.search_path) {
    execvpe(argv[0], argv, envp);
  } else {
    execve(argv[0], argv, envp);
  }
  const int err = errno;
  (void)!write(ready, &err, sizeof err);
  _exit(127);
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return absl::InvalidArgumentError("spawn: no program");
  std::vector<std::string> args = o.argv, env = ChildEnv(o);
  std::vector<char*> argv = Pointers(args), envp = Pointers(env);
  int ready[2];  // closed by a successful exec; carries errno when exec fails
  if (pipe2(ready, O_CLOEXEC) != 0) {
    return absl::InternalError(fmt::format("spawn {}: pipe: {}", args[0], strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(ready[0]);
    close(ready[1]);
    return absl::ResourceExhaustedError(fmt::format("spawn {}: fork: {}", args[0], strerror(err)));
  }
  if (pid == 0) RunChild(o, argv.data(), envp.data(), ready[1], parent);
  if (o.own_group) setpgid(pid, pid);
  close(ready[1]);
  int exec_errno = 0;
  ssize_t n;
  while ((n = read(ready[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  close(ready[0]);
  if (n == sizeof exec_errno) {
    WaitExit(pid).IgnoreError();  // reap the child that could not exec
    return absl::NotFoundError(fmt::format("cannot run {}: {}", args[0], strerror(exec_errno)));
  }
  return pid;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

absl::StatusOr<int> WaitExit(pid_t pid) {
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (got != pid) {
    return absl::InternalError(fmt::format("waitpid {}: {}", pid, strerror(errno)));
  }
  return ExitCode(status);
}

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return fmt::format("killed by signal {} ({})", sig,
                       sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
  }
  return fmt::format("exit code {}", WEXITSTATUS(status));
}

ChildGroup::~ChildGroup() {
  if (!children_.empty()) Stop();
}

absl::StatusOr<pid_t> ChildGroup::Start(const SpawnOptions& options, int tag) {
  MT_ASSIGN_OR_RETURN(const pid_t pid, Spawn(options));
  children_.push_back({pid, tag, options.own_group});
  return pid;
}

std::optional<ChildGroup::Ended> ChildGroup::Reap() {
  for (size_t i = 0; i < children_.size(); ++i) {
    int status = 0;
    pid_t got;
    while ((got = waitpid(children_[i].pid, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    // got < 0 (ECHILD): someone else reaped it; it has ended all the same, how is unknown.
    if (got == 0) continue;
    Ended e{children_[i].pid, children_[i].tag, got < 0 ? 0 : status, -1};
    if (got > 0) e.code = ExitCode(status);
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    return e;
  }
  return std::nullopt;
}

std::optional<ChildGroup::Ended> ChildGroup::Next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!children_.empty()) {
    if (auto e = Reap()) return e;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

void ChildGroup::Signal(int sig) {
  for (const Child& c : children_) kill(c.group ? -c.pid : c.pid, sig);
}

std::vector<ChildGroup::Ended> ChildGroup::Stop(std::chrono::milliseconds grace) {
  std::vector<Ended> ended;
  Signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  bool killed = false;
  while (!children_.empty()) {
    if (auto e = Reap()) {
      ended.push_back(*e);
      continue;
    }
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      Signal(SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ended;
}

}  // namespace mt::process
