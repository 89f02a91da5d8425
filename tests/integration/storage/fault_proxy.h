// A fault-injecting HTTP proxy for tests: forwards each request to an upstream server (e.g.
// Azurite) and answers the Nth request according to a cyclic script: pass, 500, 503 with
// Retry-After, a reset mid-response, a truncated body (the connection closed before
// Content-Length bytes), or a slow answer. One thread per client connection; loopback only.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace mt::testing {

enum class Fault { kPass, k500, k503, kReset, kTruncate, kSlow };

class FaultProxy {
 public:
  FaultProxy(int upstream_port, std::vector<Fault> script);
  ~FaultProxy();
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  int faults() const { return faults_.load(); }

 private:
  void Accept();
  void Serve(int client);
  std::string Forward(const std::string& request);

  int upstream_port_;
  std::vector<Fault> script_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0}, faults_{0};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

}  // namespace mt::testing
