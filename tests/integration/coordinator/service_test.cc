// The coordinator over real gRPC on loopback: rendezvous of threads with their own clients,
// refusals (other job, closed rendezvous), the bearer token (UNAUTHENTICATED without it), the
// Store RPCs, Gloo bootstrapping through the gRPC store, and a second server on a taken port.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "launcher/coordinator/client.h"
#include "launcher/coordinator/server.h"
#include "runtime/comm/factory.h"
#include "tests/support/http_get.h"
#include "tests/support/test_pki.h"

namespace mt::coord {
namespace {

struct Running {
  std::unique_ptr<CoordinatorServer> server;
  std::unique_ptr<CoordinatorClient> Client(const std::string& token = "") const {
    ClientOptions o;
    o.address = server->address();
    o.token = token;
    o.rpc_timeout_s = 5;
    return std::move(*CoordinatorClient::Connect(o));
  }
};

Running Start(int world, const std::string& token = "") {
  CoordinatorConfig cfg;
  cfg.job_id = "job-svc";
  cfg.world_size = world;
  cfg.dp = world;
  cfg.heartbeat_s = 1;
  cfg.rendezvous_timeout_s = 20;
  auto c = Coordinator::Create(cfg, nullptr);
  EXPECT_TRUE(c.ok());
  ServerOptions o;
  o.token = token;
  auto s = CoordinatorServer::Start(std::move(*c), o);
  EXPECT_TRUE(s.ok()) << s.status();
  return Running{std::move(*s)};
}

v1::JoinRequest JoinReq(const std::string& worker, const std::string& job = "job-svc") {
  v1::JoinRequest r;
  r.set_job_id(job);
  r.set_worker_id(worker);
  r.set_host("localhost");
  r.set_requested_rank(-1);
  return r;
}

TEST(CoordinatorService, FourWorkersJoinAndGetDistinctRanks) {
  Running run = Start(4);
  std::vector<int> ranks(4, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto client = run.Client();
      auto reply = client->Join(JoinReq("w" + std::to_string(i)), 10);
      ASSERT_TRUE(reply.ok()) << reply.status();
      ranks[i] = reply->rank();
      EXPECT_EQ(reply->world_size(), 4);
      EXPECT_EQ(reply->generation(), 1);
    });
  }
  for (auto& t : threads) t.join();
  std::sort(ranks.begin(), ranks.end());
  EXPECT_EQ(ranks, (std::vector<int>{0, 1, 2, 3}));
  auto status = run.Client()->GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), "running");
  EXPECT_EQ(status->ranks_size(), 4);
  // Rendezvous is closed now: a fifth worker is refused with a reason.
  auto late = run.Client()->Join(JoinReq("w-late"), 5);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("closed"), std::string::npos) << late.status();
  // The refusal's kind crosses gRPC as a payload (what a replacement pod's exit code uses).
  EXPECT_EQ(late.status().GetPayload(coord::kJoinRefusal), absl::Cord("closed"));
}

TEST(CoordinatorService, HeartbeatStreamAnswersWhenAskedOrStopping) {
  Running run = Start(1);
  auto client = run.Client();
  auto joined = client->Join(JoinReq("w"), 5);
  ASSERT_TRUE(joined.ok()) << joined.status();
  auto channel = client->OpenHeartbeats();
  v1::HeartbeatRequest hb;
  hb.set_job_id("job-svc");
  hb.set_generation(joined->generation());
  hb.set_rank(joined->rank());
  auto quiet = channel->Beat(hb);
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_FALSE(quiet->has_value());  // not asked, nothing to say
  hb.set_want_reply(true);
  auto asked = channel->Beat(hb);
  ASSERT_TRUE(asked.ok() && asked->has_value());
  EXPECT_EQ((*asked)->action(), v1::CONTINUE);
  run.server->coordinator().Cancel("cancelled by the test");
  hb.set_want_reply(false);
  ASSERT_TRUE(channel->Beat(hb).ok());  // the coordinator answers it: STOP_FAILED
  hb.set_want_reply(true);
  auto stop = channel->Beat(hb);
  ASSERT_TRUE(stop.ok() && stop->has_value());
  EXPECT_EQ((*stop)->action(), v1::STOP_FAILED);
  EXPECT_EQ((*stop)->message(), "cancelled by the test");
}

TEST(CoordinatorService, OtherJobIsRefused) {
  Running run = Start(2);
  auto reply = run.Client()->Join(JoinReq("w", "another-job"), 5);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(reply.status().message().find("another-job"), std::string::npos);
  EXPECT_NE(reply.status().message().find("job-svc"), std::string::npos);
}

TEST(CoordinatorService, TokenIsRequiredWhenConfigured) {
  Running run = Start(1, "s3cret-token");
  auto without = run.Client()->GetStatus();
  EXPECT_EQ(without.status().code(), absl::StatusCode::kUnauthenticated) << without.status();
  auto wrong = run.Client("guess")->Join(JoinReq("w"), 5);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  auto store = run.Client()->Store("job-svc");
  EXPECT_EQ(store->Set("k", "v").code(), absl::StatusCode::kUnauthenticated);
  auto with = run.Client("s3cret-token")->Join(JoinReq("w"), 5);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->rank(), 0);
  // The token never appears in what a refused caller learns.
  EXPECT_EQ(without.status().message().find("s3cret"), std::string::npos);
}

TEST(CoordinatorService, StoreOverGrpc) {
  Running run = Start(1);
  auto client = run.Client();
  auto store = client->Store("job-svc");
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(run.Client()->Store("job-svc")->Set("late", "value").ok());
  });
  auto got = store->Get("late", std::chrono::seconds(5));  // parks on the server, no thread
  setter.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "value");
  EXPECT_EQ(*store->Add("n", 3), 3);
  EXPECT_EQ(*store->Add("n", 4), 7);
  EXPECT_EQ(*store->CompareSet("c", "", "x"), "x");
  EXPECT_EQ(*store->CompareSet("c", "y", "z"), "x");
  absl::Status missing = store->Wait({"late", "never"}, std::chrono::milliseconds(200));
  EXPECT_EQ(missing.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(missing.message().find("never"), std::string::npos) << missing;
  EXPECT_EQ(client->Store("other")->Set("k", "v").code(), absl::StatusCode::kFailedPrecondition);
}

#ifdef MT_HAVE_BACKEND_GLOO
TEST(CoordinatorService, GlooBootstrapsThroughTheGrpcStore) {
  Running run = Start(3);
  std::vector<float> sums(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      auto client = run.Client();
      auto store = comm::MakePrefixStore("g1/comm", client->Store("job-svc"));
      auto backend = comm::CreateBackend("gloo", store, r, 3);
      ASSERT_TRUE(backend.ok()) << backend.status();
      float x = static_cast<float>(r + 1);
      ASSERT_TRUE((*backend)->AllReduce(&x, 1, DType::kF32)->Wait(std::chrono::seconds(10)).ok());
      sums[r] = x;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sums, (std::vector<float>{6, 6, 6}));
}
#endif

// GET /metrics from the running server: 200 with text that `promtool check metrics` (the
// Prometheus project's own linter) accepts; other paths 404.
TEST(CoordinatorService, MetricsEndpointPassesPromtool) {
  CoordinatorConfig cfg;
  cfg.job_id = "job-metrics";
  cfg.world_size = 1;
  cfg.dp = 1;
  cfg.heartbeat_s = 1;
  auto c = Coordinator::Create(cfg, nullptr);
  ASSERT_TRUE(c.ok());
  ServerOptions o;
  o.metrics_listen = "127.0.0.1:0";
  auto s = CoordinatorServer::Start(std::move(*c), o);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string reply = mt::testing::HttpGet((*s)->metrics_address(), "/metrics");
  ASSERT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("text/plain; version=0.0.4"), std::string::npos);
  const std::string body = reply.substr(reply.find("\r\n\r\n") + 4);
  EXPECT_NE(body.find("meshtrain_job_world_size{job=\"job-metrics\"} 1"), std::string::npos);
  const auto [rc, lint] = mt::testing::Promtool(body);
  EXPECT_EQ(rc, 0) << lint << "\n" << body;
  EXPECT_EQ(mt::testing::HttpGet((*s)->metrics_address(), "/").rfind("HTTP/1.1 404", 0), 0u);
}

TEST(CoordinatorService, SecondServerOnTheSamePortFailsClearly) {
  Running run = Start(1);
  auto c = Coordinator::Create(run.server->coordinator().config(), nullptr);
  ASSERT_TRUE(c.ok());
  ServerOptions o;
  o.listen = run.server->address();
  auto second = CoordinatorServer::Start(std::move(*c), o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("Address already in use"), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace mt::coord

namespace mt::coord {
namespace {

using mt::testing::MakePki;
using mt::testing::Pki;

TEST(CoordinatorService, MutualTlsRequiresAClientCertificate) {
  const Pki pki = MakePki();
  if (!pki.ok) GTEST_SKIP() << "openssl could not make test certificates";
  CoordinatorConfig cfg;
  cfg.job_id = "job-tls";
  cfg.world_size = 1;
  ServerOptions so;
  so.tls = {pki.dir + "/server.pem", pki.dir + "/server.key", pki.dir + "/ca.pem"};
  auto server = CoordinatorServer::Start(std::move(*Coordinator::Create(cfg, nullptr)), so);
  ASSERT_TRUE(server.ok()) << server.status();
  ClientOptions co;
  co.address = (*server)->address();
  co.rpc_timeout_s = 5;
  co.tls.ca = pki.dir + "/ca.pem";
  // TLS without a client certificate: refused by the mTLS server.
  auto anonymous = (*CoordinatorClient::Connect(co))->GetStatus();
  EXPECT_FALSE(anonymous.ok());
  // Plaintext against a TLS server: refused too.
  ClientOptions plain;
  plain.address = co.address;
  plain.rpc_timeout_s = 2;
  EXPECT_FALSE((*CoordinatorClient::Connect(plain))->GetStatus().ok());
  // With the client certificate: served.
  co.tls.cert = pki.dir + "/client.pem";
  co.tls.key = pki.dir + "/client.key";
  auto status = (*CoordinatorClient::Connect(co))->GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->job_id(), "job-tls");
  std::filesystem::remove_all(pki.dir);
}

TEST(CoordinatorService, MissingCertificateFileIsNamed) {
  ServerOptions so;
  so.tls = {"/nonexistent/server.pem", "/nonexistent/server.key", ""};
  CoordinatorConfig cfg;
  cfg.job_id = "job-tls";
  auto server = CoordinatorServer::Start(std::move(*Coordinator::Create(cfg, nullptr)), so);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/server.pem"), std::string::npos)
      << server.status();
}

}  // namespace
}  // namespace mt::coord
