// bench/control (control plane): how fast the registry and the metric sinks go on this
// machine. Rows: registry operations/s (register + gate decision, each one transaction with
// its audit record; one connection, then 8 threads with their own connections on the same
// file), audit verification (records/s), TensorBoard scalar events/s, metrics.jsonl records/s,
// coordinator /metrics renders/s for a 64-rank job, and the control service over gRPC:
// registry operations/s from 8 clients, and metric points/s through the whole ingestion path
// (heartbeats -> coordinator -> ControlFeed batches -> ReportMetrics -> the service's JSONL and
// TensorBoard sinks). Prints a table; --json FILE too.
//   control_bench [--ops 400] [--points 200000] [--json FILE]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/util.h"
#include "control/registry/registry.h"
#include "control/service/client.h"
#include "control/service/server.h"
#include "fmt/format.h"
#include "launcher/coordinator/coordinator.h"
#include "runtime/metrics/jsonl_sink.h"
#include "runtime/metrics/tensorboard_sink.h"

namespace {

using namespace mt;
using mt::bench::Check;
using mt::bench::Clock;
using mt::bench::Since;

// `ops` register + evaluate pairs on `threads` connections; returns operations per second.
double RegistryRate(const std::string& db, int ops, int threads) {
  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto r = control::Registry::Open(db);
      Check(r.status());
      for (int i = 0; i < ops / threads; ++i) {
        control::VersionInfo v;
        v.model = "bench";
        v.metrics = {{"eval_loss", 1.0 / (1 + t * ops + i)}};
        auto added = (*r)->Register(v);
        Check(added.status());
        Check((*r)->Evaluate("bench", added->version, control::Policy{}).status());
      }
    });
  }
  for (auto& w : workers) w.join();
  return 2.0 * ops / Since(t0);
}

// A control service on loopback over the registry file `db` (its sinks under dir/runs).
std::unique_ptr<control::ControlServer> StartControl(const std::string& dir) {
  control::LocalControlOptions o;
  o.db = dir + "/service.db";
  o.runs_dir = dir + "/runs";
  auto local = control::LocalControl::Open(o);
  Check(local.status());
  auto server = control::ControlServer::Start(std::move(*local), control::ControlServerOptions{});
  Check(server.status());
  return std::move(*server);
}

std::unique_ptr<control::ControlClient> Client(const control::ControlServer& server) {
  control::ControlClientOptions o;
  o.address = server.address();
  auto c = control::ControlClient::Connect(o);
  Check(c.status());
  return std::move(*c);
}

// `ops` register + evaluate pairs from `threads` gRPC clients; operations per second.
double GrpcRegistryRate(const control::ControlServer& server, int ops, int threads) {
  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto c = Client(server);
      for (int i = 0; i < ops / threads; ++i) {
        control::VersionInfo v;
        v.model = "grpc-bench";
        v.metrics = {{"eval_loss", 1.0 / (1 + t * ops + i)}};
        auto added = c->Register(v);
        Check(added.status());
        Check(c->Evaluate("grpc-bench", added->version, control::Policy{}).status());
      }
    });
  }
  for (auto& w : workers) w.join();
  return 2.0 * ops / Since(t0);
}

// `points` metric points (4 per step, 25 steps per heartbeat, as a lead rank logging every
// step with a 2 s heartbeat at ~12 steps/s sends) through a coordinator whose feed forwards
// them to the service; points per second until the service has written them all.
double IngestionRate(const control::ControlServer& server, int64_t points) {
  auto feed = std::make_shared<coord::ControlFeed>(
      [&server]() -> absl::StatusOr<std::unique_ptr<control::ControlApi>> {
        return std::unique_ptr<control::ControlApi>(Client(server));
      },
      "ingest-bench", "bench", /*forward_metrics=*/true);
  coord::CoordinatorConfig cfg;
  cfg.job_id = "ingest-bench";
  cfg.world_size = 1;
  cfg.heartbeat_s = 1;
  cfg.feed = feed;
  auto c = coord::Coordinator::Create(cfg, nullptr);
  Check(c.status());
  coord::v1::JoinRequest join;
  join.set_job_id("ingest-bench");
  join.set_worker_id("w0");
  join.set_requested_rank(0);
  (*c)->Join(join, [](absl::StatusOr<coord::v1::JoinReply>) {});
  const char* names[] = {"loss", "lr", "grad_norm", "tokens_per_s"};
  const auto t0 = Clock::now();
  int64_t step = 0;
  for (int64_t sent = 0; sent < points;) {
    coord::v1::HeartbeatRequest beat;
    beat.set_job_id("ingest-bench");
    beat.set_generation(1);
    beat.set_rank(0);
    for (int s = 0; s < 25; ++s, ++step) {
      for (const char* name : names) {
        auto* m = beat.add_metrics();
        m->set_step(step);
        m->set_name(name);
        m->set_value(1.0 / (step + 1));
        ++sent;
      }
    }
    beat.set_step(step);
    Check((*c)->Heartbeat(beat).status());
  }
  feed->Flush();
  const double rate = points / Since(t0);
  const auto counts = feed->counts();
  Check(counts.points == points && counts.failures == 0
            ? absl::OkStatus()
            : absl::InternalError(fmt::format("ingestion: {} of {} points, {} failures",
                                              counts.points, points, counts.failures)));
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  int ops = 400;
  std::string json_path;
  CLI::App app{"control plane: registry operations and metric sinks per second"};
  app.add_option("--ops", ops, "register+evaluate pairs per registry row");
  int64_t points = 200000;
  app.add_option("--points", points, "metric points through the ingestion path");
  app.add_option("--json", json_path);
  CLI11_PARSE(app, argc, argv);
  char tmpl[] = "/tmp/meshtrain-control-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::vector<std::pair<std::string, double>> rows;
  rows.emplace_back("registry ops/s, 1 connection", RegistryRate(dir + "/one.db", ops, 1));
  rows.emplace_back("registry ops/s, 8 connections", RegistryRate(dir + "/eight.db", ops, 8));
  {
    auto r = control::Registry::Open(dir + "/eight.db");
    Check(r.status());
    const auto t0 = Clock::now();
    Check((*r)->VerifyAudit());
    rows.emplace_back("audit verify, records/s", (*r)->Audit()->size() / Since(t0));
  }
  {
    metrics::TensorBoardSink tb;
    Check(tb.Open(dir + "/tb"));
    const int n = 20000;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      Check(tb.Scalars(i, {{"loss", 1.0 / (i + 1)}, {"lr", 3e-4}, {"grad_norm", 0.5}}));
    }
    rows.emplace_back("TensorBoard events/s (3 scalars)", n / Since(t0));
  }
  {
    metrics::JsonlSink jsonl;
    Check(jsonl.Open(dir + "/m.jsonl", true));
    const int n = 20000;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      Check(jsonl.Write({{"step", i}, {"loss", 1.0 / (i + 1)}, {"lr", 3e-4}, {"grad_norm", 0.5}}));
    }
    rows.emplace_back("metrics.jsonl records/s", n / Since(t0));
  }
  {
    coord::CoordinatorConfig cfg;
    cfg.job_id = "bench";
    cfg.world_size = 64;
    cfg.dp = 64;
    cfg.heartbeat_s = 1;
    auto c = coord::Coordinator::Create(cfg, nullptr);
    Check(c.status());
    for (int r = 0; r < 64; ++r) {  // a running job: every rank joined and heartbeating
      coord::v1::JoinRequest join;
      join.set_job_id("bench");
      join.set_worker_id("w" + std::to_string(r));
      join.set_requested_rank(r);
      (*c)->Join(join, [](absl::StatusOr<coord::v1::JoinReply>) {});
    }
    for (int step = 1; step <= 3; ++step) {
      for (int r = 0; r < 64; ++r) {
        coord::v1::HeartbeatRequest beat;
        beat.set_job_id("bench");
        beat.set_generation(1);
        beat.set_rank(r);
        beat.set_step(step * 10);
        Check((*c)->Heartbeat(beat).status());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const int n = 2000;
    size_t bytes = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) bytes += (*c)->PrometheusText().size();
    rows.emplace_back(fmt::format("/metrics renders/s, 64 ranks ({} KiB)", bytes / n / 1024),
                      n / Since(t0));
  }
  {
    auto server = StartControl(dir);
    rows.emplace_back("registry ops/s over gRPC, 8 clients", GrpcRegistryRate(*server, ops, 8));
    rows.emplace_back("metric points/s, coordinator -> control -> sinks",
                      IngestionRate(*server, points));
  }
  std::filesystem::remove_all(dir);
  std::printf("%-50s %14s\n", "row", "per second");
  nlohmann::json out = {{"info", bench::RunInfo()}, {"rows", nlohmann::json::object()}};
  for (const auto& [name, rate] : rows) {
    std::printf("%-50s %14.0f\n", name.c_str(), rate);
    out["rows"][name] = rate;
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
