// A running control service as a ControlApi (`--control HOST:PORT`): every call is one RPC
// with a deadline; errors keep the server's code and name the call and the address.
// Thread-safe (gRPC channels and stubs are).
#pragma once

#include <memory>
#include <string>

#include "control/service/control_api.h"
#include "meshtrain/v1/control.grpc.pb.h"
#include "runtime/rpc/security.h"

namespace mt::control {

struct ControlClientOptions {
  std::string address;  // HOST:PORT
  std::string token;    // bearer token; empty: none
  rpc::TlsFiles tls;    // ca (and cert + key for mTLS); empty: plaintext
  double timeout_s = 30;
};

class ControlClient final : public ControlApi {
 public:
  static absl::StatusOr<std::unique_ptr<ControlClient>> Connect(const ControlClientOptions& o);

  absl::StatusOr<VersionInfo> Register(VersionInfo v) override;
  absl::StatusOr<Decision> Evaluate(const std::string& model, int64_t version,
                                    const Policy& policy) override;
  absl::StatusOr<Decision> Promote(const std::string& model, int64_t version,
                                   const std::string& reason) override;
  absl::StatusOr<Decision> Rollback(const std::string& model, const std::string& reason) override;
  absl::StatusOr<std::vector<std::string>> Models() override;
  absl::StatusOr<std::vector<VersionInfo>> Versions(const std::string& model) override;
  absl::StatusOr<VersionInfo> Resolve(const std::string& ref) override;
  absl::StatusOr<std::vector<Decision>> Decisions(const std::string& model) override;
  absl::StatusOr<std::pair<DatasetInfo, TriggerResult>> RegisterDataset(
      const std::string& model, const std::string& uri) override;
  absl::StatusOr<TriggerResult> ReportProductionMetric(const ProductionMetric& m) override;
  absl::StatusOr<std::vector<RetrainInfo>> Retrains(const std::string& model) override;
  absl::StatusOr<int64_t> ReportMetrics(const std::string& job_id, const std::string& model,
                                        const std::vector<MetricPoint>& points) override;
  absl::StatusOr<AuditRecord> AppendAudit(const std::string& kind,
                                          const std::string& body_json) override;
  absl::StatusOr<std::vector<AuditRecord>> Audit() override;
  absl::StatusOr<AuditHead> VerifyAudit() override;
  std::string where() const override { return "control service " + options_.address; }

 private:
  explicit ControlClient(ControlClientOptions o) : options_(std::move(o)) {}
  // Calls `rpc` with a prepared context; the status names the call and the address.
  template <typename Req, typename Reply, typename Rpc>
  absl::Status Invoke(const char* name, Rpc rpc, const Req& req, Reply& reply);

  ControlClientOptions options_;
  std::unique_ptr<meshtrain::v1::Control::Stub> stub_;
};

}  // namespace mt::control
