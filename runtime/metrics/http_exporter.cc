// /metrics over HTTP (see http_exporter.h).
#include "runtime/metrics/http_exporter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "fmt/format.h"

namespace mt::metrics {
namespace {

void SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpExporter>> HttpExporter::Start(
    const std::string& listen, std::function<std::string()> render) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535 ||
      inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        fmt::format("--metrics-listen '{}': expected IPV4:PORT (port 0: any)", listen));
  }
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(fmt::format("--metrics-listen {}: {}", listen, why));
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string address = fmt::format("{}:{}", listen.substr(0, colon), ntohs(addr.sin_port));
  return std::unique_ptr<HttpExporter>(new HttpExporter(fd, address, std::move(render)));
}

HttpExporter::HttpExporter(int fd, std::string address, std::function<std::string()> render)
    : fd_(fd), address_(std::move(address)), render_(std::move(render)) {
  thread_ = std::thread([this] { Serve(); });
}

HttpExporter::~HttpExporter() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

void HttpExporter::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // wakes to see stop_
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Answer(client);
    close(client);
  }
}

void HttpExporter::Answer(int client) {
  // The request line is all we need; read until the header ends (or 8 KiB, or 2 s).
  std::string request;
  char buf[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return;
    const ssize_t n = recv(client, buf, sizeof buf, 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  const bool metrics =
      request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0;
  const std::string body = metrics ? render_() : "not found: try /metrics\n";
  SendAll(client, fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                              "Connection: close\r\n\r\n{}",
                              metrics ? "200 OK" : "404 Not Found",
                              metrics ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
                              body.size(), body));
}

}  // namespace mt::metrics
