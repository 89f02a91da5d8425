// The control service on the network (`meshtrain control --listen ADDR --db FILE`): the gRPC
// Control service (control.proto) over a LocalControl, with the coordinator's transport
// security (TLS/mTLS, bearer token) and a Prometheus /metrics endpoint.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/service/local_control.h"
#include "runtime/metrics/http_exporter.h"
#include "runtime/rpc/security.h"

namespace mt::control {

using ControlServerOptions = rpc::ServerOptions;

class ControlServer {
 public:
  // Unavailable naming the address when it cannot listen.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(std::shared_ptr<LocalControl> control,
                                                              const ControlServerOptions& options);
  ~ControlServer();  // Shutdown()

  const std::string& address() const { return address_; }
  std::string metrics_address() const { return exporter_ ? exporter_->address() : ""; }
  LocalControl& control() { return *control_; }
  // Blocks until Shutdown() is called from another thread (or a signal handler's thread).
  void Wait();
  // Stops serving (calls in flight get 2 s to finish). Idempotent.
  void Shutdown();

 private:
  ControlServer() = default;
  std::shared_ptr<LocalControl> control_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<metrics::HttpExporter> exporter_;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace mt::control
