// The control service's gRPC server (see server.h). Each RPC checks the token, converts the
// request, calls LocalControl and converts the answer; errors keep their codes.
#include "control/service/server.h"

#include <algorithm>
#include <functional>

#include "control/service/convert.h"
#include "fmt/format.h"
#include "meshtrain/v1/control.grpc.pb.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/rpc/listen.h"

namespace mt::control {
namespace {

using grpc::ServerContext;

class Service final : public pb::Control::Service {
 public:
  Service(std::shared_ptr<LocalControl> c, std::string token)
      : c_(std::move(c)), token_(std::move(token)) {}

  grpc::Status RegisterVersion(ServerContext* ctx, const pb::RegisterVersionRequest* req,
                               pb::ModelVersion* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(VersionInfo v, c_->Register(FromProto(req->version())));
      *reply = ToProto(v);
      return absl::OkStatus();
    });
  }
  grpc::Status EvaluateVersion(ServerContext* ctx, const pb::EvaluateVersionRequest* req,
                               pb::Decision* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(Decision d,
                          c_->Evaluate(req->model(), req->version(), FromProto(req->policy())));
      *reply = ToProto(d);
      return absl::OkStatus();
    });
  }
  grpc::Status Promote(ServerContext* ctx, const pb::PromoteRequest* req,
                       pb::Decision* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(Decision d, c_->Promote(req->model(), req->version(), req->reason()));
      *reply = ToProto(d);
      return absl::OkStatus();
    });
  }
  grpc::Status Rollback(ServerContext* ctx, const pb::RollbackRequest* req,
                        pb::Decision* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(Decision d, c_->Rollback(req->model(), req->reason()));
      *reply = ToProto(d);
      return absl::OkStatus();
    });
  }
  grpc::Status ListModels(ServerContext* ctx, const pb::ListModelsRequest*,
                          pb::ListModelsReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(std::vector<std::string> models, c_->Models());
      for (const std::string& m : models) reply->add_models(m);
      return absl::OkStatus();
    });
  }
  grpc::Status ListVersions(ServerContext* ctx, const pb::ListVersionsRequest* req,
                            pb::ListVersionsReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, c_->Versions(req->model()));
      for (const VersionInfo& v : versions) *reply->add_versions() = ToProto(v);
      return absl::OkStatus();
    });
  }
  grpc::Status GetVersion(ServerContext* ctx, const pb::GetVersionRequest* req,
                          pb::ModelVersion* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(VersionInfo v, c_->Resolve(req->ref()));
      *reply = ToProto(v);
      return absl::OkStatus();
    });
  }
  grpc::Status ListDecisions(ServerContext* ctx, const pb::ListDecisionsRequest* req,
                             pb::ListDecisionsReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(std::vector<Decision> decisions, c_->Decisions(req->model()));
      for (const Decision& d : decisions) *reply->add_decisions() = ToProto(d);
      return absl::OkStatus();
    });
  }
  grpc::Status RegisterDataset(ServerContext* ctx, const pb::RegisterDatasetRequest* req,
                               pb::RegisterDatasetReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(auto r, c_->RegisterDataset(req->model(), req->uri()));
      reply->set_id(r.first.id);
      reply->set_fingerprint(r.first.fingerprint);
      *reply->mutable_trigger() = ToProto(r.second);
      return absl::OkStatus();
    });
  }
  grpc::Status ReportProductionMetric(ServerContext* ctx,
                                      const pb::ReportProductionMetricRequest* req,
                                      pb::TriggerReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(TriggerResult t,
                          c_->ReportProductionMetric({req->model(), req->metric(), req->value(),
                                                      req->data_uri(), req->source()}));
      *reply = ToProto(t);
      return absl::OkStatus();
    });
  }
  grpc::Status ListRetrains(ServerContext* ctx, const pb::ListRetrainsRequest* req,
                            pb::ListRetrainsReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(std::vector<RetrainInfo> retrains, c_->Retrains(req->model()));
      for (const RetrainInfo& r : retrains) *reply->add_retrains() = ToProto(r);
      return absl::OkStatus();
    });
  }
  grpc::Status ReportMetrics(ServerContext* ctx, const pb::ReportMetricsRequest* req,
                             pb::ReportMetricsReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      std::vector<MetricPoint> points;
      points.reserve(req->points_size());
      for (const auto& p : req->points()) points.push_back({p.step(), p.name(), p.value()});
      MT_ASSIGN_OR_RETURN(int64_t n, c_->ReportMetrics(req->job_id(), req->model(), points));
      reply->set_accepted(n);
      return absl::OkStatus();
    });
  }
  grpc::Status AppendAudit(ServerContext* ctx, const pb::AppendAuditRequest* req,
                           pb::AuditRecord* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      MT_ASSIGN_OR_RETURN(AuditRecord a, c_->AppendAudit(req->kind(), req->body_json()));
      *reply = ToProto(a);
      return absl::OkStatus();
    });
  }
  grpc::Status ListAudit(ServerContext* ctx, const pb::ListAuditRequest* req,
                         pb::ListAuditReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      const int64_t limit = req->limit() > 0 ? std::min(req->limit(), 10000) : 1000;
      MT_ASSIGN_OR_RETURN(std::vector<AuditRecord> records, c_->AuditPage(req->after_id(), limit));
      for (const AuditRecord& a : records) *reply->add_records() = ToProto(a);
      return absl::OkStatus();
    });
  }
  grpc::Status VerifyAudit(ServerContext* ctx, const pb::VerifyAuditRequest*,
                           pb::VerifyAuditReply* reply) override {
    return Call(ctx, [&]() -> absl::Status {
      const absl::StatusOr<AuditHead> head = c_->VerifyAudit();
      if (!head.ok() && head.status().code() != absl::StatusCode::kDataLoss) {
        return head.status();
      }
      reply->set_ok(head.ok());
      if (head.ok()) {
        reply->set_records(head->records);
        reply->set_head(head->hash);
      } else {
        reply->set_problem(std::string(head.status().message()));
      }
      return absl::OkStatus();
    });
  }

 private:
  grpc::Status Call(ServerContext* ctx, const std::function<absl::Status()>& body) {
    if (grpc::Status s = rpc::CheckToken(*ctx, token_); !s.ok()) return s;
    return rpc::ToGrpc(body());
  }

  std::shared_ptr<LocalControl> c_;
  std::string token_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(
    std::shared_ptr<LocalControl> control, const ControlServerOptions& options) {
  MT_ASSIGN_OR_RETURN(auto creds, rpc::MakeServerCredentials(options.tls));
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->control_ = control;
  s->service_ = std::make_unique<Service>(control, options.token);
  grpc::ServerBuilder builder;
  builder.RegisterService(s->service_.get());
  MT_ASSIGN_OR_RETURN(s->server_, rpc::BuildAndListen(builder, options.listen, creds,
                                                      "control service", s->address_));
  // With TLS a retrain would need the CA too: it uses the registry file instead (same host).
  if (options.tls.cert.empty()) control->Advertise(s->address_, options.token);
  if (!options.metrics_listen.empty()) {
    MT_ASSIGN_OR_RETURN(
        s->exporter_, metrics::HttpExporter::Start(
                          options.metrics_listen, [control] { return control->PrometheusText(); }));
  }
  MT_LOG(kInfo, kInit, "control service on {} (registry {}){}{}", s->address_, control->where(),
         options.tls.cert.empty() ? "" : " (TLS)",
         options.token.empty() ? "" : " (bearer token required)");
  return s;
}

void ControlServer::Wait() {
  if (server_) server_->Wait();
}

void ControlServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  exporter_.reset();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

ControlServer::~ControlServer() { Shutdown(); }

}  // namespace mt::control
