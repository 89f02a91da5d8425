// Test helpers for HTTP endpoints: a plain GET over loopback, and `promtool check metrics`
// (the Prometheus project's own linter) on a /metrics body.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace mt::testing {

// The raw response (status line, headers, body) of GET `path` from IPV4:PORT.
inline std::string HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return "connect failed";
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, req.data(), req.size(), 0);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// promtool's exit code and output for `body`.
inline std::pair<int, std::string> Promtool(const std::string& body) {
  char tmpl[] = "/tmp/meshtrain-metrics-XXXXXX";
  const int fd = mkstemp(tmpl);
  const bool written = write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
  close(fd);
  if (!written) return {-1, "cannot write the metrics to a temporary file"};
  const std::string cmd = std::string("promtool check metrics < ") + tmpl + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string lint;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) lint.append(buf, got);
  const int status = pclose(p);
  std::remove(tmpl);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, lint};
}

}  // namespace mt::testing
