// Retrain jobs as local processes (see submitter.h).
#include "control/trigger/submitter.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/logging.h"
#include "runtime/core/process.h"
#include "runtime/core/status.h"

namespace mt::control {
namespace {

std::string OwnStore(const std::string& store, const RetrainInfo& r) {
  if (store.starts_with("file://") || store.find("://") == std::string::npos) {
    return "file://" + r.run_dir + "/checkpoints";
  }
  std::string base = store;
  while (base.ends_with("/")) base.pop_back();
  return fmt::format("{}-retrain-{}", base, r.id);
}

// The version the fine-tune registered, from RUN_DIR/summary.json ("registry"."version").
std::optional<int64_t> RegisteredVersion(const std::string& run_dir) {
  auto text = ReadFile(run_dir + "/summary.json");
  if (!text.ok()) return std::nullopt;
  const auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("registry") || !j["registry"].contains("version")) {
    return std::nullopt;
  }
  return j["registry"]["version"].get<int64_t>();
}

}  // namespace

absl::StatusOr<meshtrain::v1::JobSpec> RetrainJobSpec(const std::string& base_job_json,
                                                      const RetrainInfo& r, const std::string& db,
                                                      const std::string& endpoint,
                                                      const std::string& token_file) {
  meshtrain::v1::JobSpec spec;
  const auto parsed = google::protobuf::util::JsonStringToMessage(base_job_json, &spec);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(fmt::format("{} v{}: its stored job does not parse: {}",
                                                  r.model, r.base_version,
                                                  std::string(parsed.message())));
  }
  spec.mutable_finetune()->set_base(fmt::format("{}@{}", r.model, r.base_version));
  spec.mutable_finetune()->set_method("full");
  spec.mutable_data()->set_uri(r.data_uri);
  spec.mutable_control()->set_endpoint(endpoint.empty() ? "embedded" : endpoint);
  spec.mutable_control()->set_token_file(token_file);
  spec.mutable_control()->set_db(db);
  if (spec.has_checkpoint()) {
    spec.mutable_checkpoint()->set_store(OwnStore(spec.checkpoint().store(), r));
  }
  return spec;
}

LocalSubmitter::~LocalSubmitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();  // after it, this thread alone touches jobs_
  // Stop what still runs: SIGTERM to each job's process group (its ranks too), SIGKILL to
  // what has not ended after the grace period.
  for (const auto& e : jobs_.Stop(std::chrono::seconds(10))) Finish(e);
}

void LocalSubmitter::Reap() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closing_) {
    const auto ended = jobs_.Next(std::chrono::milliseconds(0));
    if (!ended) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    lock.unlock();
    Finish(*ended);
    lock.lock();
  }
}

void LocalSubmitter::Finish(const process::ChildGroup::Ended& e) {
  Job job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job = std::move(pending_.at(e.pid));
  }
  JobOutcome o;
  o.exit_code = e.code;  // -1: reaped elsewhere, the outcome is unknown, not a success
  o.ok = e.code == 0;
  o.version = RegisteredVersion(job.run_dir);
  job.done(o);
  std::lock_guard<std::mutex> lock(mu_);
  pending_.erase(e.pid);
  cv_.notify_all();
}

absl::Status LocalSubmitter::Submit(const RetrainInfo& r, const meshtrain::v1::JobSpec& spec,
                                    const std::string& db,
                                    std::function<void(const JobOutcome&)> done) {
  MT_RETURN_IF_ERROR(MakeDirs(r.run_dir));
  std::string text;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(spec, &text, print).ok()) {
    return absl::InternalError("retrain: cannot write the job");
  }
  const std::string job = r.run_dir + "/retrain-job.yaml";  // JSON is YAML
  MT_RETURN_IF_ERROR(WriteFileAtomic(job, text));
  std::vector<std::string> args = {exe_,     "finetune", job,    "--base", spec.finetune().base(),
                                   "--data", r.data_uri, "--db", db,       "--run-dir",
                                   r.run_dir};
  const std::string log = r.run_dir + "/retrain.log";
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(fmt::format("retrain: {}: {}", log, strerror(errno)));
  std::lock_guard<std::mutex> lock(mu_);
  // Its own process group: a signal to the service does not reach it, nor it us. The
  // service blocks SIGINT/SIGTERM in all its threads (it waits for them with sigwait); the
  // mask would survive exec, so the job gets clean signals or it could never be stopped.
  auto spawned = jobs_.Start(
      {.argv = args, .own_group = true, .clean_signals = true, .stdout_fd = fd, .stderr_fd = fd},
      static_cast<int>(r.id));
  close(fd);
  MT_RETURN_IF_ERROR(spawned.status());
  const pid_t pid = *spawned;
  MT_LOG(kInfo, kInit, "retrain {}: {} (pid {}, log {})", r.id, fmt::join(args, " "), pid, log);
  pending_[pid] = Job{r.run_dir, std::move(done)};
  // One reaper for every job: a long-lived service does not keep a thread per retrain.
  if (!reaper_.joinable()) reaper_ = std::thread([this] { Reap(); });
  return absl::OkStatus();
}

void LocalSubmitter::WaitAll() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return pending_.empty(); });
}

}  // namespace mt::control
