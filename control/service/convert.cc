// control.proto <-> C++ (see convert.h).
#include "control/service/convert.h"

namespace mt::control {

pb::ModelVersion ToProto(const VersionInfo& v) {
  pb::ModelVersion m;
  m.set_model(v.model);
  m.set_version(v.version);
  m.set_checkpoint_uri(v.checkpoint_uri);
  m.set_checkpoint_version(v.checkpoint_version);
  for (const auto& [k, val] : v.metrics) (*m.mutable_metrics())[k] = val;
  if (v.parent) m.set_parent(*v.parent);
  m.set_data_fingerprint(v.data_fingerprint);
  m.set_job_hash(v.job_hash);
  m.set_created(v.created);
  m.set_job_json(v.job_json);
  for (const std::string& a : v.aliases) m.add_aliases(a);
  return m;
}

VersionInfo FromProto(const pb::ModelVersion& m) {
  VersionInfo v;
  v.model = m.model();
  v.version = m.version();
  v.checkpoint_uri = m.checkpoint_uri();
  v.checkpoint_version = m.checkpoint_version();
  for (const auto& [k, val] : m.metrics()) v.metrics[k] = val;
  if (m.has_parent()) v.parent = m.parent();
  v.data_fingerprint = m.data_fingerprint();
  v.job_hash = m.job_hash();
  v.created = m.created();
  v.job_json = m.job_json();
  v.aliases.assign(m.aliases().begin(), m.aliases().end());
  return v;
}

pb::Decision ToProto(const Decision& d) {
  pb::Decision m;
  m.set_model(d.model);
  m.set_version(d.version);
  m.set_outcome(d.outcome);
  m.set_reason(d.reason);
  m.set_created(d.created);
  return m;
}

Decision FromProto(const pb::Decision& m) {
  return {m.model(), m.version(), m.outcome(), m.reason(), m.created()};
}

pb::Policy ToProto(const Policy& p) {
  pb::Policy m;
  m.set_metric(p.metric);
  m.set_mode(p.mode);
  m.set_min_improvement(p.min_improvement);
  for (const std::string& g : p.guards) m.add_guards(g);
  return m;
}

Policy FromProto(const pb::Policy& m) {
  Policy p;
  if (!m.metric().empty()) p.metric = m.metric();
  if (!m.mode().empty()) p.mode = m.mode();
  p.min_improvement = m.min_improvement();
  p.guards.assign(m.guards().begin(), m.guards().end());
  return p;
}

pb::Retrain ToProto(const RetrainInfo& r) {
  pb::Retrain m;
  m.set_id(r.id);
  m.set_model(r.model);
  m.set_base_version(r.base_version);
  m.set_data_uri(r.data_uri);
  m.set_reason(r.reason);
  m.set_run_dir(r.run_dir);
  m.set_state(r.state);
  m.set_exit_code(r.exit_code);
  if (r.result_version) m.set_result_version(*r.result_version);
  m.set_created(r.created);
  m.set_finished(r.finished);
  return m;
}

RetrainInfo FromProto(const pb::Retrain& m) {
  RetrainInfo r;
  r.id = m.id();
  r.model = m.model();
  r.base_version = m.base_version();
  r.data_uri = m.data_uri();
  r.reason = m.reason();
  r.run_dir = m.run_dir();
  r.state = m.state();
  r.exit_code = m.exit_code();
  if (m.has_result_version()) r.result_version = m.result_version();
  r.created = m.created();
  r.finished = m.finished();
  return r;
}

pb::TriggerReply ToProto(const TriggerResult& t) {
  pb::TriggerReply m;
  m.set_crossed(t.crossed);
  m.set_submitted(t.submitted);
  m.set_reason(t.reason);
  if (t.retrain) *m.mutable_retrain() = ToProto(*t.retrain);
  return m;
}

TriggerResult FromProto(const pb::TriggerReply& m) {
  TriggerResult t{m.crossed(), m.submitted(), m.reason(), std::nullopt};
  if (m.has_retrain()) t.retrain = FromProto(m.retrain());
  return t;
}

pb::AuditRecord ToProto(const AuditRecord& a) {
  pb::AuditRecord m;
  m.set_id(a.id);
  m.set_kind(a.kind);
  m.set_created(a.created);
  m.set_body(a.body);
  m.set_prev(a.prev);
  m.set_hash(a.hash);
  return m;
}

AuditRecord FromProto(const pb::AuditRecord& m) {
  return {m.id(), m.kind(), m.created(), m.body(), m.prev(), m.hash()};
}

}  // namespace mt::control
