// kubectl wrappers (see kubectl.h).
#include "launcher/k8s/kubectl.h"

#include <unistd.h>

#include <fcntl.h>
#include <cerrno>
#include <csignal>

#include <cstring>

#include "fmt/format.h"
#include "runtime/core/process.h"

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
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return absl::InternalError(fmt::format("pipe: {}", strerror(errno)));
  int output[2] = {-1, -1};
  if (out != nullptr && pipe2(output, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return absl::InternalError("pipe failed");
  }
  auto pid = process::Spawn(
      {.argv = argv, .search_path = true, .stdin_fd = in[0], .stdout_fd = output[1]});
  close(in[0]);
  if (output[1] >= 0) close(output[1]);
  if (!pid.ok()) {
    close(in[1]);
    if (output[0] >= 0) close(output[0]);
    return absl::UnavailableError(fmt::format("{} (install kubectl, or set MT_KUBECTL)",
                                              std::string(pid.status().message())));
  }
  std::signal(SIGPIPE, SIG_IGN);  // kubectl may exit before reading everything
  size_t done = 0;
  while (done < stdin_text.size()) {
    const ssize_t n = write(in[1], stdin_text.data() + done, stdin_text.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(in[1]);
  if (out != nullptr) {
    char buf[4096];
    ssize_t n;
    while ((n = read(output[0], buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
    close(output[0]);
  }
  return process::WaitExit(*pid);
}

}  // namespace mt::k8s
