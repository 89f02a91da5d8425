// A minimal HTTP/1.1 server for Prometheus scrapes: GET /metrics answers 200 with the text
// `render` returns (Content-Type text/plain; version=0.0.4); anything else 404. One thread,
// one request per connection (Connection: close). Loopback or pod IPs only; no TLS.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace mt::metrics {

class HttpExporter {
 public:
  // Listens on HOST:PORT (port 0: any free port). InvalidArgument for a malformed address,
  // Unavailable when it cannot listen.
  static absl::StatusOr<std::unique_ptr<HttpExporter>> Start(const std::string& listen,
                                                             std::function<std::string()> render);
  ~HttpExporter();
  // The address it listens on, with the real port ("127.0.0.1:9464").
  const std::string& address() const { return address_; }

 private:
  HttpExporter(int fd, std::string address, std::function<std::string()> render);
  void Serve();
  void Answer(int client);

  int fd_;
  std::string address_;
  std::function<std::string()> render_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mt::metrics
