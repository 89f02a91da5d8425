// Opening the job's control service (see open.h).
#include "control/service/open.h"

#include "control/service/client.h"
#include "control/service/local_control.h"
#include "runtime/core/params.h"
#include "runtime/core/status.h"

namespace mt::control {

absl::StatusOr<std::unique_ptr<ControlApi>> OpenControl(const meshtrain::v1::ControlSpec& spec,
                                                        const std::string& run_dir) {
  if (spec.endpoint().empty() || spec.endpoint() == "embedded") {
    LocalControlOptions o;
    o.db = RegistryPath(spec, run_dir);
    MT_ASSIGN_OR_RETURN(auto local, LocalControl::Open(o));
    return std::unique_ptr<ControlApi>(std::move(local));
  }
  ControlClientOptions o;
  o.address = spec.endpoint();
  o.timeout_s = 10;
  o.tls.ca = params::TlsCa();  // as the coordinator's clients: MT_TLS_CA / _CERT / _KEY
  o.tls.cert = params::TlsCert();
  o.tls.key = params::TlsKey();
  if (!spec.token_file().empty()) {
    MT_ASSIGN_OR_RETURN(o.token, rpc::ReadTokenFile(spec.token_file()));
  }
  MT_ASSIGN_OR_RETURN(auto client, ControlClient::Connect(o));
  return std::unique_ptr<ControlApi>(std::move(client));
}

std::function<absl::StatusOr<std::set<int64_t>>()> ProtectedCheckpoints(
    const meshtrain::v1::ControlSpec& spec, const std::string& run_dir,
    const std::string& checkpoint_uri) {
  if (spec.endpoint().empty() || spec.endpoint() == "embedded") {
    return ReferencedCheckpoints(RegistryPath(spec, run_dir), checkpoint_uri);
  }
  return [spec, run_dir, checkpoint_uri]() -> absl::StatusOr<std::set<int64_t>> {
    MT_ASSIGN_OR_RETURN(auto api, OpenControl(spec, run_dir));
    MT_ASSIGN_OR_RETURN(std::vector<std::string> models, api->Models());
    std::set<int64_t> out;
    for (const std::string& m : models) {
      MT_ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, api->Versions(m));
      for (const VersionInfo& v : versions) {
        if (v.checkpoint_uri == checkpoint_uri) out.insert(v.checkpoint_version);
      }
    }
    return out;
  };
}

}  // namespace mt::control
