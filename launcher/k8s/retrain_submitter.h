// Retrains as Kubernetes Jobs (`meshtrain control --submitter k8s`): the control service's
// fine-tune job rendered like any job (launcher/k8s/render.h) under the name MODEL-retrain-ID
// and applied with kubectl; a thread per retrain polls its worker Job until Complete or
// Failed, reports the outcome and deletes the retrain's objects. The job reports to the
// control service at its advertised address (`meshtrain control --advertise`), with the
// token and TLS Secrets the base job names. The control pod needs kubectl and a
// ServiceAccount allowed to manage the job's kinds (docs/kubernetes.md).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include "control/trigger/submitter.h"
#include "launcher/k8s/kubectl.h"
#include "launcher/k8s/render.h"

namespace mt::k8s {

class RetrainSubmitter final : public control::Submitter {
 public:
  RetrainSubmitter(KubectlOptions kubectl, RenderOptions render, double poll_s = 15)
      : kubectl_(std::move(kubectl)), render_(std::move(render)), poll_s_(poll_s) {}
  ~RetrainSubmitter() override;  // stops polling (the Jobs keep running in the cluster)

  // FailedPrecondition when the job would embed its own control service (the service was not
  // given an address pods can reach: --advertise).
  absl::Status Submit(const control::RetrainInfo& r, const meshtrain::v1::JobSpec& spec,
                      const std::string& db,
                      std::function<void(const control::JobOutcome&)> done) override;
  void WaitAll() override;

  // The Kubernetes name of retrain `r`: MODEL-retrain-ID, made a DNS label.
  static std::string Name(const control::RetrainInfo& r);

 private:
  KubectlOptions kubectl_;
  RenderOptions render_;
  double poll_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  int polling_ = 0;
  bool stop_ = false;
};

}  // namespace mt::k8s
