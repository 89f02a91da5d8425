// Rank-prefixed output forwarding (see output.h).
#include "launcher/local/output.h"

#include <unistd.h>

#include <cstdio>

namespace mt::local {
namespace {

std::mutex g_stdout_mu;

void Emit(const std::string& prefix, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_stdout_mu);
  std::fwrite(prefix.data(), 1, prefix.size(), stdout);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void Pump(int fd, const std::string& prefix) {
  std::string pending;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = pending.find_first_of("\n\r", start)) != std::string::npos) {
      // A carriage return (a rewritten progress line) is forwarded as a line of its own.
      std::string line = pending.substr(start, nl - start);
      if (!line.empty()) Emit(prefix, line + "\n");
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) Emit(prefix, pending + "\n");
  close(fd);
}

}  // namespace

void OutputPump::Add(int fd, std::string prefix) {
  readers_.emplace_back([fd, prefix = std::move(prefix)] { Pump(fd, prefix); });
}

void OutputPump::Drain() {
  for (auto& t : readers_) {
    if (t.joinable()) t.join();
  }
  readers_.clear();
}

}  // namespace mt::local
