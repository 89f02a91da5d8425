// ControlFeed: what a job queues reaches the control service in order, in calls of bounded
// size, without blocking the caller; a service that cannot be reached costs a logged failure,
// never a hang.
#include "launcher/coordinator/control_feed.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "control/service/client.h"
#include "control/service/local_control.h"
#include "control/service/server.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace mt::coord {
namespace {

ControlFeed::Opener LocalAt(const std::string& dir) {
  return [dir]() -> absl::StatusOr<std::unique_ptr<control::ControlApi>> {
    control::LocalControlOptions o;
    o.db = dir + "/control.db";
    auto local = control::LocalControl::Open(o);
    if (!local.ok()) return local.status();
    return std::unique_ptr<control::ControlApi>(std::move(*local));
  };
}

TEST(ControlFeed, MetricsArriveInBoundedCallsAndAuditInOrder) {
  testing::TempDir dir;
  {
    ControlFeed feed(LocalAt(dir.path()), "job-7", "adder", /*forward_metrics=*/true);
    const int64_t steps = 5000;  // 20,000 points: three calls of at most 8192
    for (int64_t s = 0; s < steps; ++s) {
      feed.Metrics({{s, "loss", 1.0 / (s + 1)}, {s, "lr", 0.1}, {s, "grad_norm", 1}, {s, "x", 2}});
    }
    feed.Audit("data read", {{"shard", "a"}});
    feed.Audit("checkpoint committed", {{"version", 1}});
    feed.Flush();
    const ControlFeed::Counts c = feed.counts();
    EXPECT_EQ(c.points, 4 * steps);
    EXPECT_EQ(c.records, 2);
    EXPECT_EQ(c.failures, 0);
    EXPECT_LE(c.calls, 2 + 3 * 2);  // batches of whatever queued, each split at 8192 points
  }
  std::ifstream jsonl(dir / "metrics/job-7.jsonl");
  int64_t lines = 0;
  for (std::string line; std::getline(jsonl, line);) ++lines;
  EXPECT_GE(lines, 5000);  // one record per step, split only where a call boundary cut a step
  EXPECT_LE(lines, 5000 + 3);
  control::LocalControlOptions o;
  o.db = dir / "control.db";
  auto local = control::LocalControl::Open(o);
  ASSERT_TRUE(local.ok());
  auto audit = (*local)->Audit();
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].kind, "data read");
  EXPECT_EQ((*audit)[1].kind, "checkpoint committed");
  EXPECT_TRUE((*local)->VerifyAudit().ok());
}

// A backlog (the service was slow or away) larger than gRPC's 4 MiB message limit still
// arrives whole: the feed splits it into calls of kPointsPerCall.
TEST(ControlFeed, ABacklogBeyondTheGrpcMessageLimitArrives) {
  testing::TempDir dir;
  control::LocalControlOptions o;
  o.db = dir / "control.db";
  auto local = control::LocalControl::Open(o);
  ASSERT_TRUE(local.ok());
  auto server = control::ControlServer::Start(std::move(*local), {});
  ASSERT_TRUE(server.ok()) << server.status();
  std::atomic<bool> open{false};
  ControlFeed feed(
      [&]() -> absl::StatusOr<std::unique_ptr<control::ControlApi>> {
        while (!open.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        control::ControlClientOptions c;
        c.address = (*server)->address();
        auto client = control::ControlClient::Connect(c);
        if (!client.ok()) return client.status();
        return std::unique_ptr<control::ControlApi>(std::move(*client));
      },
      "job-big", "adder", true);
  const int64_t kPoints = 200000;  // about 6 MiB as one message
  for (int64_t s = 0; s < kPoints / 4; ++s) {
    feed.Metrics({{s, "loss", 1.0}, {s, "lr", 0.1}, {s, "grad_norm", 1}, {s, "tokens_per_s", 2}});
  }
  open = true;
  feed.Flush();
  EXPECT_EQ(feed.counts().failures, 0);
  EXPECT_EQ(feed.counts().points, kPoints);
  EXPECT_GE(feed.counts().calls, 200000 / ControlFeed::kPointsPerCall);  // it was split
}

TEST(ControlFeed, EmbeddedServiceGetsAuditButNotMetrics) {
  testing::TempDir dir;
  ControlFeed feed(LocalAt(dir.path()), "job-8", "adder", /*forward_metrics=*/false);
  feed.Metrics({{1, "loss", 2.0}});
  feed.Audit("data read", {{"shard", "a"}});
  feed.Flush();
  EXPECT_EQ(feed.counts().points, 0);
  EXPECT_EQ(feed.counts().records, 1);
}

TEST(ControlFeed, AnUnreachableServiceFailsWithoutBlocking) {
  ControlFeed feed(
      []() -> absl::StatusOr<std::unique_ptr<control::ControlApi>> {
        return absl::UnavailableError("no service");
      },
      "job-9", "adder", true);
  feed.Audit("data read", {{"shard", "a"}});
  feed.Metrics({{1, "loss", 2.0}});
  feed.Flush();  // returns: the failure is counted and logged
  EXPECT_GE(feed.counts().failures, 1);
  EXPECT_EQ(feed.counts().records, 0);
}

}  // namespace
}  // namespace mt::coord
