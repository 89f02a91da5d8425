// Benchmark run metadata (see bench_info.h).
#include "bench/common/bench_info.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <thread>

namespace mt::bench {
namespace {

std::string Command(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[128];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

nlohmann::json RunInfo() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::string commit = Command("git rev-parse --short HEAD 2>/dev/null");
  if (!Command("git status --porcelain --untracked-files=no 2>/dev/null").empty()) {
    commit += "-dirty";
  }
  return {{"commit", commit.empty() ? "unknown" : commit},
          {"host", host},
          {"time", when},
          {"cpus", std::thread::hardware_concurrency()}};
}

}  // namespace mt::bench
