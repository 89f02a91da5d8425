// Coordinator scale benchmark: N simulated workers (threads, each with its own gRPC channel and
// TCP connection) join one coordinator and then heartbeat at a fixed rate. The coordinator runs
// in a child process (pinned to core 0, the workers to the other cores, unless --pin false),
// so its CPU time (utime + stime from /proc) is measured on its own.
//
//   bench/rendezvous [--workers 64,256,1024] [--heartbeat-s 1] [--seconds 10] [--json FILE]
//
// Heartbeats go over the HeartbeatStream RPC (what workers use) and, for comparison, as one
// unary call each (the naive design).
// Reports: rendezvous time (first Join sent -> last reply), join latency p50/p99, heartbeat
// RPC rate and latency, and the coordinator's CPU use while serving heartbeats (% of a core).
// Goals (issue 5): 1024 workers rendezvous in < 2 s; 1024 workers at 1 heartbeat/s < 10%.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "fmt/format.h"
#include "launcher/coordinator/client.h"
#include "launcher/coordinator/server.h"

namespace {

using namespace mt;
using Clock = std::chrono::steady_clock;

void RaiseFileLimit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

void PinTo(int first, int count);

// Child (a fresh exec of this binary: forking a process that already ran gRPC is unsafe):
// serve a coordinator for `world` workers; print the address on `fd`; run until killed.
[[noreturn]] void Serve(int world, double heartbeat_s, int fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (std::getenv("MT_BENCH_PIN")) PinTo(0, 1);  // core 0 to itself (clients: PinClients)
  RaiseFileLimit();
  coord::CoordinatorConfig cfg;
  cfg.job_id = "bench";
  cfg.world_size = world;
  cfg.dp = world;
  cfg.heartbeat_s = heartbeat_s;
  cfg.lease_factor = 10;  // the bench measures load, not failures
  cfg.rendezvous_timeout_s = 120;
  auto c = coord::Coordinator::Create(cfg, nullptr);
  auto server = coord::CoordinatorServer::Start(std::move(*c), coord::ServerOptions{});
  if (!server.ok()) _exit(1);
  const std::string addr = (*server)->address() + "\n";
  (void)!write(fd, addr.data(), addr.size());
  close(fd);
  while (true) pause();
}

// Restricts this process to cores [first, first + count).
void PinTo(int first, int count) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = first; c < first + count; ++c) CPU_SET(c, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// The simulated workers use every core but the coordinator's, so the coordinator's CPU time
// is not inflated by competing with its own load generator (on 2 cores: one each).
void PinClients() {
  const int cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (cores > 1) PinTo(1, cores - 1);
}

double CpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stod(f);
    if (i == 15) stime = std::stod(f);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

struct Result {
  int workers = 0;
  bool stream = false;
  double rendezvous_s = 0, join_p50_ms = 0, join_p99_ms = 0;
  double heartbeat_rps = 0, heartbeat_p50_ms = 0, heartbeat_p99_ms = 0, server_cpu_pct = 0;
  int errors = 0;
};

Result RunOne(int n, double heartbeat_s, double seconds, bool stream, bool spread) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    const std::string world = std::to_string(n), hb = std::to_string(heartbeat_s),
                      fd = std::to_string(fds[1]);
    execl("/proc/self/exe", "rendezvous", "--serve", world.c_str(), "--heartbeat-s", hb.c_str(),
          "--serve-fd", fd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[128] = {0};
  (void)!read(fds[0], buf, sizeof(buf) - 1);
  close(fds[0]);
  const std::string address = std::string(buf).substr(0, std::string(buf).find('\n'));

  Result r;
  r.workers = n;
  r.stream = stream;
  std::mutex mu;
  std::vector<double> join_ms, beat_ms;
  int64_t beats_sent = 0;
  std::atomic<int> errors{0}, joined{0};
  std::atomic<Clock::rep> last_join{0};
  // Every thread connects first; then `go` releases them all at `start`.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start, beat_start, beat_end;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      coord::ClientOptions o;
      o.address = address;
      o.own_connection = true;
      auto client = std::move(*coord::CoordinatorClient::Connect(o));
      coord::v1::JoinRequest req;
      req.set_job_id("bench");
      req.set_worker_id(fmt::format("w{}", i));
      req.set_requested_rank(-1);
      ++ready;
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_until(start);
      const auto t0 = Clock::now();
      auto reply = client->Join(req, 60);
      const auto t1 = Clock::now();
      if (!reply.ok()) {
        if (errors.fetch_add(1) == 0) {
          std::fprintf(stderr, "join failed: %s\n", std::string(reply.status().message()).c_str());
        }
        return;
      }
      last_join = std::max<Clock::rep>(last_join.load(), t1.time_since_epoch().count());
      {
        std::lock_guard<std::mutex> lock(mu);
        join_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      ++joined;
      while (joined.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      // Heartbeats: spread over the period (offset by rank), then every heartbeat_s.
      const auto period =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(heartbeat_s));
      auto next = beat_start + (spread ? period * reply->rank() / n : Clock::duration(0));
      std::vector<double> mine;
      int64_t beats = 0, sent = 0;
      auto channel = client->OpenHeartbeats();
      coord::v1::HeartbeatRequest hb;
      hb.set_job_id("bench");
      hb.set_generation(reply->generation());
      hb.set_rank(reply->rank());
      while (next < beat_end) {
        std::this_thread::sleep_until(next);
        const auto b0 = Clock::now();
        bool ok = false;
        if (stream) {
          hb.set_want_reply(beats++ % 4 == 0);  // as workers do (launcher/worker/session.cc)
          ok = channel->Beat(hb).ok();
        } else {
          ok = client->Heartbeat(hb).ok();
        }
        if (!stream || hb.want_reply()) {  // latency of answered heartbeats
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - b0).count());
        }
        if (!ok) ++errors;
        ++sent;
        next += period;
      }
      std::lock_guard<std::mutex> lock(mu);
      beat_ms.insert(beat_ms.end(), mine.begin(), mine.end());
      beats_sent += sent;
    });
  }
  while (ready.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Heartbeat window: starts well after everyone should have joined.
  start = Clock::now() + std::chrono::milliseconds(50);
  beat_start = start + std::chrono::seconds(3);
  beat_end = beat_start +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  go = true;
  std::this_thread::sleep_until(beat_start);
  const double cpu0 = CpuSeconds(child);
  std::this_thread::sleep_until(beat_end);
  const double cpu1 = CpuSeconds(child);
  for (auto& t : threads) t.join();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  r.errors = errors.load();
  r.rendezvous_s =
      std::chrono::duration<double>(Clock::time_point(Clock::duration(last_join.load())) - start)
          .count();
  r.join_p50_ms = Percentile(join_ms, 0.5);
  r.join_p99_ms = Percentile(join_ms, 0.99);
  r.heartbeat_rps = beats_sent / seconds;
  r.heartbeat_p50_ms = Percentile(beat_ms, 0.5);
  r.heartbeat_p99_ms = Percentile(beat_ms, 0.99);
  r.server_cpu_pct = 100 * (cpu1 - cpu0) / seconds;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Coordinator rendezvous and heartbeat load"};
  std::vector<int> workers = {64, 256, 1024};
  double heartbeat_s = 1, seconds = 10;
  std::string json_path;
  int serve = 0, serve_fd = -1;
  app.add_option("--serve", serve, "(internal) serve a coordinator for this many workers");
  app.add_option("--serve-fd", serve_fd, "(internal) where to write the address");
  app.add_option("--workers", workers, "Worker counts")->delimiter(',');
  app.add_option("--heartbeat-s", heartbeat_s, "Seconds between heartbeats per worker");
  app.add_option("--seconds", seconds, "Heartbeat window measured");
  app.add_option("--json", json_path, "Also write the results as JSON");
  std::string mode = "both", phase = "spread";
  bool pin = true;
  app.add_option("--pin", pin,
                 "Coordinator on core 0, workers on the others (fair CPU numbers; on 2 cores it "
                 "slows the workers' joins, so rendezvous time is best read with --pin false)");
  app.add_option("--phase", phase,
                 "spread: heartbeats evenly over the period (worst case, the default); aligned: "
                 "all at once, as workers that joined together start")
      ->check(CLI::IsMember({"spread", "aligned"}));
  app.add_option("--heartbeats", mode, "Heartbeat RPC: stream (what workers use), unary, both")
      ->check(CLI::IsMember({"stream", "unary", "both"}));
  CLI11_PARSE(app, argc, argv);
  if (serve > 0) Serve(serve, heartbeat_s, serve_fd);
  RaiseFileLimit();
  if (pin) {
    setenv("MT_BENCH_PIN", "1", 1);  // tells the coordinator child
    PinClients();
  }
  setenv("MT_LOG_LEVEL", "warn", 0);

  nlohmann::json out = {{"run", bench::RunInfo()}, {"pinned", pin},
                        {"phase", phase},          {"heartbeat_s", heartbeat_s},
                        {"seconds", seconds},      {"results", nlohmann::json::array()}};
  std::printf("%8s %7s %12s %10s %10s %12s %10s %10s %12s %7s\n", "workers", "hb_rpc",
              "rendezvous_s", "join_p50", "join_p99", "heartbeats/s", "hb_p50", "hb_p99",
              "coord_cpu_%", "errors");
  for (int n : workers) {
    for (bool stream : {false, true}) {
      if ((mode == "stream" && !stream) || (mode == "unary" && stream)) continue;
      const Result r = RunOne(n, heartbeat_s, seconds, stream, phase == "spread");
      std::printf("%8d %7s %12.3f %8.1fms %8.1fms %12.1f %8.2fms %8.2fms %12.2f %7d\n", r.workers,
                  r.stream ? "stream" : "unary", r.rendezvous_s, r.join_p50_ms, r.join_p99_ms,
                  r.heartbeat_rps, r.heartbeat_p50_ms, r.heartbeat_p99_ms, r.server_cpu_pct,
                  r.errors);
      std::fflush(stdout);
      out["results"].push_back({{"workers", r.workers},
                                {"heartbeat_rpc", r.stream ? "stream" : "unary"},
                                {"rendezvous_s", r.rendezvous_s},
                                {"join_p50_ms", r.join_p50_ms},
                                {"join_p99_ms", r.join_p99_ms},
                                {"heartbeat_rps", r.heartbeat_rps},
                                {"heartbeat_p50_ms", r.heartbeat_p50_ms},
                                {"heartbeat_p99_ms", r.heartbeat_p99_ms},
                                {"coordinator_cpu_pct", r.server_cpu_pct},
                                {"errors", r.errors}});
    }
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
