// kubectl wrappers (see kubectl.h).
#include "launcher/k8s/kubectl.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <cerrno>
#include <csignal>

#include <cstring>

#include "fmt/format.h"

namespace mt::k8s {
namespace {

std::vector<std::string> Base(const KubectlOptions& o) {
  std::vector<std::string> argv = {o.kubectl};
  if (!o.context.empty()) argv.insert(argv.end(), {"--context", o.context});
  if (!o.namespace_name.empty()) argv.insert(argv.end(), {"--namespace", o.namespace_name});
  return argv;
}

std::string JobLabel(const std::string& job) { return "meshtrain.dev/job=" + job; }

}  // namespace

std::vector<std::string> ApplyArgs(const KubectlOptions& o) {
  auto argv = Base(o);
  argv.insert(argv.end(), {"apply", "-f", "-"});
  return argv;
}

std::vector<std::string> StatusArgs(const KubectlOptions& o, const std::string& job) {
  auto argv = Base(o);
  argv.insert(argv.end(), {"get", "jobs,deployments,pods", "-l", JobLabel(job), "-o", "wide"});
  return argv;
}

std::vector<std::string> LogsArgs(const KubectlOptions& o, const std::string& job, int index,
                                  bool follow) {
  auto argv = Base(o);
  argv.insert(argv.end(), {"logs", "-l",
                           fmt::format("{},app.kubernetes.io/component=worker,"
                                       "batch.kubernetes.io/job-completion-index={}",
                                       JobLabel(job), index),
                           "--tail", "-1"});
  if (follow) argv.push_back("--follow");
  return argv;
}

std::vector<std::string> DeleteArgs(const KubectlOptions& o, const std::string& job, bool purge) {
  auto argv = Base(o);
  std::string kinds = "jobs,deployments,services,configmaps,networkpolicies,serviceaccounts";
  if (purge) kinds += ",persistentvolumeclaims";
  argv.insert(argv.end(), {"delete", kinds, "-l", JobLabel(job), "--ignore-not-found"});
  return argv;
}

std::vector<std::string> JobConditionArgs(const KubectlOptions& o, const std::string& job) {
  auto argv = Base(o);
  argv.insert(argv.end(), {"get", "job", job + "-workers", "-o",
                           "jsonpath={.status.conditions[?(@.status==\"True\")].type}"});
  return argv;
}

absl::StatusOr<int> RunKubectl(const std::vector<std::string>& argv, const std::string& stdin_text,
                               std::string* out) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int in[2];
  if (pipe(in) != 0) return absl::InternalError(fmt::format("pipe: {}", strerror(errno)));
  int output[2] = {-1, -1};
  if (out != nullptr && pipe(output) != 0) return absl::InternalError("pipe failed");
  int ready[2];  // closed by a successful exec; carries errno when exec fails
  if (pipe2(ready, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(fmt::format("fork: {}", strerror(errno)));
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    close(in[0]);
    close(in[1]);
    if (output[1] >= 0) {
      dup2(output[1], STDOUT_FILENO);
      close(output[0]);
      close(output[1]);
    }
    close(ready[0]);
    execvp(args[0], args.data());
    const int err = errno;
    (void)!write(ready[1], &err, sizeof err);
    _exit(127);
  }
  close(in[0]);
  close(ready[1]);
  int exec_errno = 0;
  const bool failed = read(ready[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  close(ready[0]);
  std::signal(SIGPIPE, SIG_IGN);  // kubectl may exit before reading everything
  size_t done = 0;
  while (!failed && done < stdin_text.size()) {
    const ssize_t n = write(in[1], stdin_text.data() + done, stdin_text.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(in[1]);
  if (out != nullptr) {
    close(output[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(output[0], buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
    close(output[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (failed) {
    return absl::UnavailableError(fmt::format(
        "cannot run {}: {} (install kubectl, or set MT_KUBECTL)", argv[0], strerror(exec_errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace mt::k8s
