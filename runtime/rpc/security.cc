// gRPC credentials and tokens (see security.h).
#include "runtime/rpc/security.h"

#include <chrono>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "fmt/format.h"
#include "meshtrain/v1/rpc_status.pb.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"

namespace mt::rpc {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("TLS {} file {}: {}", what, path, std::string(text.status().message())));
  }
  return text;
}

// Constant-time comparison, so a token cannot be guessed byte by byte from timing.
bool SameSecret(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ (i < b.size() ? b[i] : 0);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("token file {}: {}", path, std::string(text.status().message())));
  }
  std::string token = *text;
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) return absl::InvalidArgumentError(fmt::format("token file {} is empty", path));
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& t) {
  if (t.cert.empty() && t.key.empty()) return grpc::InsecureServerCredentials();
  if (t.cert.empty() || t.key.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  grpc::SslServerCredentialsOptions options(
      t.ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                   : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  MT_ASSIGN_OR_RETURN(std::string cert, ReadPem(t.cert, "certificate"));
  MT_ASSIGN_OR_RETURN(std::string key, ReadPem(t.key, "key"));
  options.pem_key_cert_pairs.push_back({key, cert});
  if (!t.ca.empty()) {
    MT_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem(t.ca, "client CA"));
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& t) {
  if (t.ca.empty() && t.cert.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!t.ca.empty()) {
    MT_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem(t.ca, "CA"));
  }
  if (!t.cert.empty()) {
    MT_ASSIGN_OR_RETURN(options.pem_cert_chain, ReadPem(t.cert, "certificate"));
    MT_ASSIGN_OR_RETURN(options.pem_private_key, ReadPem(t.key, "key"));
  }
  return grpc::SslCredentials(options);
}

grpc::Status CheckToken(const grpc::ServerContextBase& context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing bearer token (authorization metadata)");
  }
  const std::string got(it->second.data(), it->second.size());
  if (!SameSecret(got, "Bearer " + token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong bearer token");
  }
  return grpc::Status::OK;
}

void PrepareContext(grpc::ClientContext& context, const std::string& token, double timeout_s) {
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(timeout_s)));
}

// Payloads travel as google.rpc.Status details (meshtrain.v1.RpcStatus has its wire format):
// what gRPC clients in any language expect in grpc-status-details-bin.
grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  meshtrain::v1::RpcStatus rich;
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (!absl::StartsWith(url, kPayloadPrefix)) return;
    google::protobuf::Any* any = rich.add_details();
    any->set_type_url(std::string(url));
    any->set_value(std::string(value));
  });
  const auto code = static_cast<grpc::StatusCode>(s.code());
  if (rich.details_size() == 0) return grpc::Status(code, std::string(s.message()));
  rich.set_code(static_cast<int32_t>(s.code()));
  rich.set_message(std::string(s.message()));
  return grpc::Status(code, std::string(s.message()), rich.SerializeAsString());
}

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(s.error_code()),
                   fmt::format("{}: {}", what, s.error_message()));
  meshtrain::v1::RpcStatus rich;
  if (!s.error_details().empty() && rich.ParseFromString(s.error_details())) {
    for (const google::protobuf::Any& any : rich.details()) {
      if (any.type_url().rfind(kPayloadPrefix, 0) == 0) {
        out.SetPayload(any.type_url(), absl::Cord(any.value()));
      }
    }
  }
  return out;
}

}  // namespace mt::rpc
