// Retrains as Kubernetes Jobs (see retrain_submitter.h).
#include "launcher/k8s/retrain_submitter.h"

#include <cctype>
#include <chrono>
#include <thread>

#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::k8s {

std::string RetrainSubmitter::Name(const control::RetrainInfo& r) {
  std::string name;
  for (char c : fmt::format("{}-retrain-{}", r.model, r.id)) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  }
  while (name.size() > 50) name.erase(0, 1);  // keep the unique tail (the id)
  while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.front()))) {
    name.erase(0, 1);
  }
  return name;
}

RetrainSubmitter::~RetrainSubmitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  WaitAll();
}

absl::Status RetrainSubmitter::Submit(const control::RetrainInfo& r,
                                      const meshtrain::v1::JobSpec& spec, const std::string&,
                                      std::function<void(const control::JobOutcome&)> done) {
  if (spec.control().endpoint() == "embedded") {
    return absl::FailedPreconditionError(
        "retrain on Kubernetes: the control service has no address pods can reach (start it "
        "with --advertise HOST:PORT)");
  }
  meshtrain::v1::JobSpec job = spec;
  job.set_name(Name(r));
  job.mutable_control()->clear_db();
  job.mutable_control()->clear_token_file();  // the pods mount the token Secret instead
  MT_ASSIGN_OR_RETURN(std::vector<nlohmann::json> objects, Render(job, render_));
  MT_ASSIGN_OR_RETURN(int applied, RunKubectl(ApplyArgs(kubectl_), ToYaml(objects)));
  if (applied != 0) {
    return absl::UnavailableError(
        fmt::format("retrain {}: kubectl apply exited {}", r.id, applied));
  }
  MT_LOG(kInfo, kInit, "retrain {}: Kubernetes job {} applied", r.id, job.name());
  std::lock_guard<std::mutex> lock(mu_);
  ++polling_;
  std::thread([this, name = job.name(), id = r.id, done = std::move(done)] {
    control::JobOutcome outcome;
    outcome.exit_code = -1;
    bool ended = false;
    while (!ended) {
      std::string state;
      auto rc = RunKubectl(JobConditionArgs(kubectl_, name), "", &state);
      if (rc.ok() && *rc == 0 && state.find("Complete") != std::string::npos) {
        outcome = {true, 0, std::nullopt};
        ended = true;
      } else if (rc.ok() && *rc == 0 && state.find("Failed") != std::string::npos) {
        outcome = {false, 1, std::nullopt};
        ended = true;
      }
      if (ended) break;
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, std::chrono::duration<double>(poll_s_), [&] { return stop_; })) break;
    }
    if (ended) {
      auto deleted = RunKubectl(DeleteArgs(kubectl_, name, /*purge=*/false), "");
      if (!deleted.ok() || *deleted != 0) {
        MT_LOG(kWarn, kInit, "retrain {}: could not delete Kubernetes job {}", id, name);
      }
      done(outcome);  // the version it registered is found by its parent (LocalControl)
    }
    std::lock_guard<std::mutex> l(mu_);
    --polling_;
    cv_.notify_all();
  }).detach();
  return absl::OkStatus();
}

void RetrainSubmitter::WaitAll() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return polling_ == 0; });
}

}  // namespace mt::k8s
