// The control service's client (see client.h).
#include "control/service/client.h"

#include "control/service/convert.h"
#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::control {

absl::StatusOr<std::unique_ptr<ControlClient>> ControlClient::Connect(
    const ControlClientOptions& o) {
  if (o.address.empty()) return absl::InvalidArgumentError("control service: no address");
  MT_ASSIGN_OR_RETURN(auto creds, rpc::MakeChannelCredentials(o.tls));
  std::unique_ptr<ControlClient> c(new ControlClient(o));
  c->stub_ = pb::Control::NewStub(grpc::CreateChannel(o.address, creds));
  return c;
}

template <typename Req, typename Reply, typename Rpc>
absl::Status ControlClient::Invoke(const char* name, Rpc rpc, const Req& req, Reply& reply) {
  grpc::ClientContext ctx;
  rpc::PrepareContext(ctx, options_.token, options_.timeout_s);
  return rpc::FromGrpc((stub_.get()->*rpc)(&ctx, req, &reply),
                       fmt::format("control service {} {}", options_.address, name));
}

absl::StatusOr<VersionInfo> ControlClient::Register(VersionInfo v) {
  pb::RegisterVersionRequest req;
  *req.mutable_version() = ToProto(v);
  pb::ModelVersion reply;
  MT_RETURN_IF_ERROR(Invoke("RegisterVersion", &pb::Control::Stub::RegisterVersion, req, reply));
  return FromProto(reply);
}

absl::StatusOr<Decision> ControlClient::Evaluate(const std::string& model, int64_t version,
                                                 const Policy& policy) {
  pb::EvaluateVersionRequest req;
  req.set_model(model);
  req.set_version(version);
  *req.mutable_policy() = ToProto(policy);
  pb::Decision reply;
  MT_RETURN_IF_ERROR(Invoke("EvaluateVersion", &pb::Control::Stub::EvaluateVersion, req, reply));
  return FromProto(reply);
}

absl::StatusOr<Decision> ControlClient::Promote(const std::string& model, int64_t version,
                                                const std::string& reason) {
  pb::PromoteRequest req;
  req.set_model(model);
  req.set_version(version);
  req.set_reason(reason);
  pb::Decision reply;
  MT_RETURN_IF_ERROR(Invoke("Promote", &pb::Control::Stub::Promote, req, reply));
  return FromProto(reply);
}

absl::StatusOr<Decision> ControlClient::Rollback(const std::string& model,
                                                 const std::string& reason) {
  pb::RollbackRequest req;
  req.set_model(model);
  req.set_reason(reason);
  pb::Decision reply;
  MT_RETURN_IF_ERROR(Invoke("Rollback", &pb::Control::Stub::Rollback, req, reply));
  return FromProto(reply);
}

absl::StatusOr<std::vector<std::string>> ControlClient::Models() {
  pb::ListModelsReply reply;
  MT_RETURN_IF_ERROR(
      Invoke("ListModels", &pb::Control::Stub::ListModels, pb::ListModelsRequest(), reply));
  return std::vector<std::string>(reply.models().begin(), reply.models().end());
}

absl::StatusOr<std::vector<VersionInfo>> ControlClient::Versions(const std::string& model) {
  pb::ListVersionsRequest req;
  req.set_model(model);
  pb::ListVersionsReply reply;
  MT_RETURN_IF_ERROR(Invoke("ListVersions", &pb::Control::Stub::ListVersions, req, reply));
  std::vector<VersionInfo> out;
  for (const auto& v : reply.versions()) out.push_back(FromProto(v));
  return out;
}

absl::StatusOr<VersionInfo> ControlClient::Resolve(const std::string& ref) {
  pb::GetVersionRequest req;
  req.set_ref(ref);
  pb::ModelVersion reply;
  MT_RETURN_IF_ERROR(Invoke("GetVersion", &pb::Control::Stub::GetVersion, req, reply));
  return FromProto(reply);
}

absl::StatusOr<std::vector<Decision>> ControlClient::Decisions(const std::string& model) {
  pb::ListDecisionsRequest req;
  req.set_model(model);
  pb::ListDecisionsReply reply;
  MT_RETURN_IF_ERROR(Invoke("ListDecisions", &pb::Control::Stub::ListDecisions, req, reply));
  std::vector<Decision> out;
  for (const auto& d : reply.decisions()) out.push_back(FromProto(d));
  return out;
}

absl::StatusOr<std::pair<DatasetInfo, TriggerResult>> ControlClient::RegisterDataset(
    const std::string& model, const std::string& uri) {
  pb::RegisterDatasetRequest req;
  req.set_model(model);
  req.set_uri(uri);
  pb::RegisterDatasetReply reply;
  MT_RETURN_IF_ERROR(Invoke("RegisterDataset", &pb::Control::Stub::RegisterDataset, req, reply));
  DatasetInfo d{reply.id(), model, uri, reply.fingerprint(), ""};
  return std::make_pair(d, FromProto(reply.trigger()));
}

absl::StatusOr<TriggerResult> ControlClient::ReportProductionMetric(const ProductionMetric& m) {
  pb::ReportProductionMetricRequest req;
  req.set_model(m.model);
  req.set_metric(m.metric);
  req.set_value(m.value);
  req.set_data_uri(m.data_uri);
  req.set_source(m.source);
  pb::TriggerReply reply;
  MT_RETURN_IF_ERROR(
      Invoke("ReportProductionMetric", &pb::Control::Stub::ReportProductionMetric, req, reply));
  return FromProto(reply);
}

absl::StatusOr<std::vector<RetrainInfo>> ControlClient::Retrains(const std::string& model) {
  pb::ListRetrainsRequest req;
  req.set_model(model);
  pb::ListRetrainsReply reply;
  MT_RETURN_IF_ERROR(Invoke("ListRetrains", &pb::Control::Stub::ListRetrains, req, reply));
  std::vector<RetrainInfo> out;
  for (const auto& r : reply.retrains()) out.push_back(FromProto(r));
  return out;
}

absl::StatusOr<int64_t> ControlClient::ReportMetrics(const std::string& job_id,
                                                     const std::string& model,
                                                     const std::vector<MetricPoint>& points) {
  pb::ReportMetricsRequest req;
  req.set_job_id(job_id);
  req.set_model(model);
  for (const MetricPoint& p : points) {
    pb::MetricPoint* m = req.add_points();
    m->set_step(p.step);
    m->set_name(p.name);
    m->set_value(p.value);
  }
  pb::ReportMetricsReply reply;
  MT_RETURN_IF_ERROR(Invoke("ReportMetrics", &pb::Control::Stub::ReportMetrics, req, reply));
  return reply.accepted();
}

absl::StatusOr<AuditRecord> ControlClient::AppendAudit(const std::string& kind,
                                                       const std::string& body_json) {
  pb::AppendAuditRequest req;
  req.set_kind(kind);
  req.set_body_json(body_json);
  pb::AuditRecord reply;
  MT_RETURN_IF_ERROR(Invoke("AppendAudit", &pb::Control::Stub::AppendAudit, req, reply));
  return FromProto(reply);
}

absl::StatusOr<std::vector<AuditRecord>> ControlClient::Audit() {
  std::vector<AuditRecord> out;
  while (true) {  // pages: a long chain does not fit one message
    pb::ListAuditRequest req;
    req.set_after_id(out.empty() ? 0 : out.back().id);
    req.set_limit(2000);
    pb::ListAuditReply reply;
    MT_RETURN_IF_ERROR(Invoke("ListAudit", &pb::Control::Stub::ListAudit, req, reply));
    if (reply.records().empty()) return out;
    for (const auto& a : reply.records()) out.push_back(FromProto(a));
  }
}

absl::StatusOr<AuditHead> ControlClient::VerifyAudit() {
  pb::VerifyAuditReply reply;
  MT_RETURN_IF_ERROR(
      Invoke("VerifyAudit", &pb::Control::Stub::VerifyAudit, pb::VerifyAuditRequest(), reply));
  if (!reply.ok()) return absl::DataLossError(reply.problem());
  return AuditHead{reply.records(), reply.head()};
}

}  // namespace mt::control
