// Opening the job's control service (see open.h).
#include "control/service/open.h"

#include "control/service/client.h"
#include "control/service/local_control.h"
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
  if (!spec.token_file().empty()) {
    MT_ASSIGN_OR_RETURN(o.token, rpc::ReadTokenFile(spec.token_file()));
  }
  MT_ASSIGN_OR_RETURN(auto client, ControlClient::Connect(o));
  return std::unique_ptr<ControlApi>(std::move(client));
}

}  // namespace mt::control
