// Transport security shared by meshtrain's gRPC endpoints: TLS / mTLS credentials from PEM
// files and the bearer token (DESIGN §3 "Security"). A server with a token rejects calls
// without `authorization: Bearer <token>` as UNAUTHENTICATED; a server with a client CA
// requires client certificates (mTLS).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace mt::rpc {

struct TlsFiles {
  std::string cert, key;  // this side's certificate chain and private key (PEM)
  std::string ca;         // server: client CA (mTLS); client: CA that signed the server
};

// What a meshtrain gRPC server (coordinator, control service) is told: where to listen, the
// token it requires, its TLS files, and where it serves Prometheus metrics.
struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  std::string token;                   // empty: no bearer token required
  TlsFiles tls;                        // cert + key: TLS; plus ca: mTLS
  std::string metrics_listen;          // IPV4:PORT for Prometheus /metrics; empty: none
};

// Reads a token file (trailing whitespace trimmed); errors name the file.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// Insecure when no cert/key is given; errors name the file that could not be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& tls);
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& tls);

// Server side: OK when no token is configured or the call carries it.
grpc::Status CheckToken(const grpc::ServerContextBase& context, const std::string& token);
// Client side: adds the token (if any) and the deadline to a call.
void PrepareContext(grpc::ClientContext& context, const std::string& token, double timeout_s);

// Status conversion. Payloads whose type URL starts with kPayloadPrefix travel too (as
// google.rpc.Status details, the format gRPC defines for them), so a caller can branch on
// structured facts, not message text.
inline constexpr char kPayloadPrefix[] = "type.meshtrain.dev/";
grpc::Status ToGrpc(const absl::Status& s);
// The message gets `what: ` in front; code and meshtrain payloads are kept.
absl::Status FromGrpc(const grpc::Status& s, const std::string& what);

}  // namespace mt::rpc
