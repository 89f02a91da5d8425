// Fault-injecting HTTP proxy (see fault_proxy.h).
#include "tests/integration/storage/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace mt::testing {
namespace {

int Listen(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  listen(fd, 64);
  return fd;
}

void WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, data, n);
    if (w <= 0) return;
    data += w;
    n -= static_cast<size_t>(w);
  }
}

// Reads one request (headers, then Content-Length bytes); "" at end of stream.
std::string ReadRequest(int fd) {
  std::string req;
  char buf[8192];
  size_t header_end;
  while ((header_end = req.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return "";
    req.append(buf, static_cast<size_t>(n));
  }
  size_t body = 0;
  for (const char* name : {"Content-Length: ", "content-length: "}) {
    const size_t at = req.find(name);
    if (at != std::string::npos && at < header_end) body = std::stoul(req.substr(at + 16));
  }
  while (req.size() < header_end + 4 + body) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return "";
    req.append(buf, static_cast<size_t>(n));
  }
  return req;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port, std::vector<Fault> script)
    : upstream_port_(upstream_port), script_(std::move(script)) {
  fd_ = Listen(port_);
  acceptor_ = std::thread([this] { Accept(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  shutdown(fd_, SHUT_RDWR);
  close(fd_);
  acceptor_.join();
  for (auto& t : workers_) t.join();
}

void FaultProxy::Accept() {
  while (!stop_) {
    const int client = accept(fd_, nullptr, nullptr);
    if (client < 0) return;
    workers_.emplace_back([this, client] { Serve(client); });
  }
}

// Sends the request upstream on a fresh connection (Connection: close) and returns the whole
// raw response.
std::string FaultProxy::Forward(const std::string& request) {
  const int up = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  if (connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(up);
    return "";
  }
  std::string req = request;
  req.insert(req.find("\r\n") + 2, "Connection: close\r\n");
  WriteAll(up, req.data(), req.size());
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(up, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  close(up);
  return resp;
}

void FaultProxy::Serve(int client) {
  // One request per connection: every response says Connection: close.
  const std::string request = ReadRequest(client);
  if (request.empty()) {
    close(client);
    return;
  }
  const int index = requests_++;
  const Fault fault = script_[index % script_.size()];
  if (fault != Fault::kPass) ++faults_;
  const char* k500 =
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  const char* k503 =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n";
  switch (fault) {
    case Fault::k500:
      WriteAll(client, k500, strlen(k500));
      break;
    case Fault::k503:
      WriteAll(client, k503, strlen(k503));
      break;
    case Fault::kReset: {
      const std::string resp = Forward(request);
      WriteAll(client, resp.data(), resp.size() / 2);
      linger hard{1, 0};  // close with RST
      setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
      break;
    }
    case Fault::kTruncate: {
      const std::string resp = Forward(request);
      const size_t body = resp.find("\r\n\r\n") + 4;
      WriteAll(client, resp.data(), body + (resp.size() - body) / 2);
      break;
    }
    case Fault::kSlow:
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      [[fallthrough]];
    case Fault::kPass: {
      const std::string resp = Forward(request);
      WriteAll(client, resp.data(), resp.size());
      break;
    }
  }
  close(client);
}

}  // namespace mt::testing
