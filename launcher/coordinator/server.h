// The coordinator on the network: the gRPC Coordinator service (callback API, so parked
// Join/StoreGet/StoreWait calls hold no thread) over a Coordinator, plus the ticker thread
// that checks leases and deadlines.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "launcher/coordinator/coordinator.h"
#include "runtime/metrics/http_exporter.h"
#include "runtime/rpc/security.h"

namespace mt::coord {

using ServerOptions = rpc::ServerOptions;

class CoordinatorServer {
 public:
  // Fails with Unavailable naming the address when it cannot listen (e.g. a second
  // coordinator on the same port: SO_REUSEPORT is off, so the port is really ours).
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(
      std::shared_ptr<Coordinator> coordinator, const ServerOptions& options);
  // The one way a launcher hosts a coordinator: `meshtrain run` (around its local workers),
  // `meshtrain coordinator` and rank 0 under mpirun all call it. Without `state` the
  // coordinator lives as long as this run, a new job run: a data audit an earlier run left at
  // config.data_audit_path is removed. With a state store (--state-dir) it is a restarted
  // coordinator of the same job and continues both. Create's and Start's errors.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Host(CoordinatorConfig config,
                                                                 std::shared_ptr<comm::Store> state,
                                                                 const ServerOptions& options);
  ~CoordinatorServer();  // Shutdown()

  // "host:port" with the port actually bound.
  const std::string& address() const { return address_; }
  // Where /metrics is served ("" without --metrics-listen).
  std::string metrics_address() const { return exporter_ ? exporter_->address() : ""; }
  Coordinator& coordinator() { return *coordinator_; }
  // Fails parked calls, stops serving and the ticker. Idempotent.
  void Shutdown();

 private:
  CoordinatorServer() = default;
  std::shared_ptr<Coordinator> coordinator_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::thread ticker_;
  std::unique_ptr<metrics::HttpExporter> exporter_;
};

}  // namespace mt::coord
