// Listening for gRPC servers (see listen.h).
#include "runtime/rpc/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "fmt/format.h"

namespace mt::rpc {
namespace {

// gRPC reports a failed bind only as "no port"; try the bind ourselves to say why.
std::string WhyCannotListen(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return "expected HOST:PORT";
  std::string host = address.substr(0, colon);
  if (host == "0.0.0.0" || host.empty() || host == "[::]") host = "0.0.0.0";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(address.c_str() + colon + 1)));
  if (host == "localhost") host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return "not a usable address";
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  std::string why = "the address is not usable";
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    why = std::strerror(errno);
    if (errno == EADDRINUSE) why += " (is another server running on this port?)";
  }
  ::close(fd);
  return why;
}

}  // namespace

absl::StatusOr<std::unique_ptr<grpc::Server>> BuildAndListen(
    grpc::ServerBuilder& builder, const std::string& listen,
    const std::shared_ptr<grpc::ServerCredentials>& creds, const std::string& who,
    std::string& address) {
  int port = 0;
  builder.AddListeningPort(listen, creds, &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return absl::UnavailableError(
        fmt::format("{}: cannot listen on {}: {}", who, listen, WhyCannotListen(listen)));
  }
  address = listen.substr(0, listen.rfind(':') + 1) + std::to_string(port);
  return server;
}

}  // namespace mt::rpc
