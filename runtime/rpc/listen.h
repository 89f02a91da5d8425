// Listening for a gRPC server on HOST:PORT (port 0: any free one), with errors that say why
// a port cannot be used (gRPC itself only reports "no port").
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace mt::rpc {

// Adds the listening port (SO_REUSEPORT off, so the port is really ours) and starts the
// server; `address` gets HOST:PORT with the port actually bound. Unavailable naming `who`,
// the address and the reason when it cannot listen.
absl::StatusOr<std::unique_ptr<grpc::Server>> BuildAndListen(
    grpc::ServerBuilder& builder, const std::string& listen,
    const std::shared_ptr<grpc::ServerCredentials>& creds, const std::string& who,
    std::string& address);

}  // namespace mt::rpc
