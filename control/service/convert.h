// The control service's C++ types to and from their control.proto messages (both directions
// are used: the server answers with them, the client reads them back).
#pragma once

#include "control/service/control_api.h"
#include "meshtrain/v1/control.pb.h"

namespace mt::control {

namespace pb = meshtrain::v1;

pb::ModelVersion ToProto(const VersionInfo& v);
VersionInfo FromProto(const pb::ModelVersion& m);
pb::Decision ToProto(const Decision& d);
Decision FromProto(const pb::Decision& m);
pb::Policy ToProto(const Policy& p);
Policy FromProto(const pb::Policy& m);
pb::Retrain ToProto(const RetrainInfo& r);
RetrainInfo FromProto(const pb::Retrain& m);
pb::TriggerReply ToProto(const TriggerResult& t);
TriggerResult FromProto(const pb::TriggerReply& m);
pb::AuditRecord ToProto(const AuditRecord& a);
AuditRecord FromProto(const pb::AuditRecord& m);

}  // namespace mt::control
