// Coordinator logic with a fake clock: rendezvous and rank assignment, refusals, lease expiry
// -> restart or failure naming the rank, success, stuck detection, and continuing from the
// persisted state.
#include "launcher/coordinator/coordinator.h"

#include <gtest/gtest.h>

#include "runtime/comm/store.h"

namespace mt::coord {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  SteadyTime now = SteadyTime{} + 1000s;
  std::unique_ptr<Coordinator> c;
  std::vector<absl::StatusOr<v1::JoinReply>> replies;

  explicit Fixture(CoordinatorConfig cfg, std::shared_ptr<comm::Store> state = nullptr) {
    auto made = Coordinator::Create(std::move(cfg), std::move(state), [this] { return now; });
    EXPECT_TRUE(made.ok()) << made.status();
    c = std::move(*made);
  }
  // Joins and records the reply slot index.
  size_t Join(const std::string& worker, int rank = -1, const std::string& job = "job-1") {
    v1::JoinRequest r;
    r.set_job_id(job);
    r.set_worker_id(worker);
    r.set_host("host");
    r.set_pid(100);
    r.set_requested_rank(rank);
    const size_t slot = replies.size();
    replies.emplace_back(absl::UnknownError("pending"));
    c->Join(r, [this, slot](absl::StatusOr<v1::JoinReply> reply) { replies[slot] = reply; });
    return slot;
  }
  bool Pending(size_t slot) const {
    return !replies[slot].ok() && replies[slot].status().message() == "pending";
  }
  v1::HeartbeatReply Beat(int rank, int64_t gen, int64_t step = 1, uint64_t seq = 0,
                          double op_age_s = 0) {
    v1::HeartbeatRequest r;
    r.set_job_id("job-1");
    r.set_generation(gen);
    r.set_rank(rank);
    r.set_step(step);
    r.set_phase("train");
    r.mutable_last_collective()->set_seq(seq);
    r.mutable_last_collective()->set_op("allreduce");
    r.mutable_last_collective()->set_state(seq ? "running" : "");
    r.mutable_last_collective()->set_age_s(op_age_s);
    auto reply = c->Heartbeat(r);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return *reply;
  }
};

CoordinatorConfig Config(int world, int max_restarts = 0) {
  CoordinatorConfig cfg;
  cfg.job_id = "job-1";
  cfg.world_size = world;
  cfg.dp = world;
  cfg.heartbeat_s = 1;
  cfg.rendezvous_timeout_s = 30;
  cfg.max_restarts = max_restarts;
  return cfg;
}

// /metrics: the job's state and per-rank gauges, and the step-time histogram built from the
// heartbeats' step counts (rank 0: 10 steps in 2 s, then 10 in 5 s).
TEST(Coordinator, PrometheusTextHasTheJobRanksAndStepTimes) {
  Fixture f(Config(2));
  f.Join("a", 0);
  f.Join("b", 1);
  ASSERT_EQ(f.c->generation(), 1);
  f.Beat(0, 1, 0);
  f.Beat(1, 1, 0);
  f.now += 1s;
  f.Beat(0, 1, 0);  // no progress: the interval keeps its start
  f.now += 1s;
  f.Beat(0, 1, 10);
  f.Beat(1, 1, 3);
  f.now += 5s;
  f.Beat(0, 1, 20);
  const std::string text = f.c->PrometheusText();
  for (const char* line :
       {"# TYPE meshtrain_job_generation gauge\nmeshtrain_job_generation{job=\"job-1\"} 1\n",
        "meshtrain_job_state{job=\"job-1\",state=\"running\"} 1\n",
        "meshtrain_job_restarts_total{job=\"job-1\"} 0\n",
        "meshtrain_rank_step{job=\"job-1\",rank=\"0\"} 20\n",
        "meshtrain_rank_step{job=\"job-1\",rank=\"1\"} 3\n",
        "# TYPE meshtrain_step_seconds histogram\n",
        // rank 0: 0.2 s/step, then 0.5 s/step; rank 1: 2 s / 3 steps
        "meshtrain_step_seconds_bucket{job=\"job-1\",rank=\"0\",le=\"0.25\"} 1\n",
        "meshtrain_step_seconds_bucket{job=\"job-1\",rank=\"0\",le=\"0.5\"} 2\n",
        "meshtrain_step_seconds_bucket{job=\"job-1\",rank=\"0\",le=\"+Inf\"} 2\n",
        "meshtrain_step_seconds_sum{job=\"job-1\",rank=\"0\"} 0.7\n",
        "meshtrain_step_seconds_count{job=\"job-1\",rank=\"1\"} 1\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
}

TEST(Coordinator, RendezvousAssignsRequestedThenFreeRanks) {
  CoordinatorConfig cfg = Config(4);
  cfg.dp = 2;
  cfg.tp = 2;
  cfg.lease_factor = 2.5;  // not the default: the reply must carry this one
  Fixture f(cfg);
  const size_t a = f.Join("a");
  const size_t b = f.Join("b", 2);
  const size_t c = f.Join("c");
  EXPECT_TRUE(f.Pending(a) && f.Pending(b) && f.Pending(c));
  EXPECT_EQ(f.c->phase(), Phase::kRendezvous);
  const size_t d = f.Join("d", 0);
  ASSERT_EQ(f.c->phase(), Phase::kRunning);
  EXPECT_EQ(f.replies[d]->rank(), 0);
  EXPECT_EQ(f.replies[b]->rank(), 2);
  EXPECT_EQ(f.replies[a]->rank(), 1);  // free ranks in join order
  EXPECT_EQ(f.replies[c]->rank(), 3);
  // tp fastest: rank 3 = (pp 0, dp 1, tp 1)
  EXPECT_EQ(f.replies[c]->coords().tp(), 1);
  EXPECT_EQ(f.replies[c]->coords().dp(), 1);
  EXPECT_EQ(f.replies[c]->generation(), 1);
  EXPECT_EQ(f.replies[c]->store_prefix(), "g1/");
  EXPECT_EQ(f.replies[c]->world_size(), 4);
  // Workers size their waits from the coordinator's own lease, not a copy of the default.
  EXPECT_EQ(f.replies[c]->heartbeat_s(), cfg.heartbeat_s);
  EXPECT_EQ(f.replies[c]->lease_factor(), cfg.lease_factor);
}

TEST(Coordinator, RefusesOtherJobTakenRankAndClosedRendezvous) {
  Fixture f(Config(2));
  const size_t wrong = f.Join("x", -1, "other-job");
  EXPECT_EQ(f.replies[wrong].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(f.replies[wrong].status().message().find("other-job"), std::string::npos);
  f.Join("a", 1);
  const size_t dup = f.Join("b", 1);
  EXPECT_EQ(f.replies[dup].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(f.replies[dup].status().message().find("worker a"), std::string::npos);
  const size_t out = f.Join("c", 7);
  EXPECT_EQ(f.replies[out].status().code(), absl::StatusCode::kInvalidArgument);
  f.Join("d", 0);
  ASSERT_EQ(f.c->phase(), Phase::kRunning);
  const size_t late = f.Join("e");
  EXPECT_EQ(f.replies[late].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(f.replies[late].status().message().find("closed"), std::string::npos);
  EXPECT_EQ(f.replies[late].status().GetPayload(kJoinRefusal), absl::Cord("closed"));
  EXPECT_FALSE(f.replies[wrong].status().GetPayload(kJoinRefusal).has_value());
}

TEST(Coordinator, RendezvousTimeoutListsMissingRanks) {
  Fixture f(Config(4));
  const size_t a = f.Join("a", 0);
  f.Join("b", 2);
  f.now += 29s;
  f.c->Tick();
  EXPECT_TRUE(f.Pending(a));
  f.now += 2s;
  f.c->Tick();
  EXPECT_EQ(f.c->phase(), Phase::kFailed);
  EXPECT_EQ(f.replies[a].status().code(), absl::StatusCode::kAborted);
  const std::string error = f.c->Status().error();
  EXPECT_NE(error.find("2 of 4 joined"), std::string::npos) << error;
  EXPECT_NE(error.find("ranks 1, 3"), std::string::npos) << error;
}

TEST(Coordinator, MissedLeaseRestartsThenFailsNamingTheRank) {
  Fixture f(Config(2, /*max_restarts=*/1));
  f.Join("a", 0);
  f.Join("b", 1);
  ASSERT_EQ(f.c->generation(), 1);
  // Both beat for a while; then rank 1 goes silent.
  for (int i = 0; i < 3; ++i) {
    f.now += 1s;
    EXPECT_EQ(f.Beat(0, 1).action(), v1::CONTINUE);
    EXPECT_EQ(f.Beat(1, 1).action(), v1::CONTINUE);
    f.c->Tick();
  }
  f.now += 1s;
  f.Beat(0, 1);
  f.c->Tick();
  EXPECT_EQ(f.c->generation(), 1);  // 1 s of silence < lease 1.5 s
  f.now += 600ms;
  f.c->Tick();
  ASSERT_EQ(f.c->generation(), 2);  // 1.6 s > lease: restart
  EXPECT_EQ(f.c->phase(), Phase::kRendezvous);
  EXPECT_EQ(f.Beat(0, 1).action(), v1::STOP_RESTART);
  EXPECT_EQ(f.c->Status().restarts(), 1);
  // Generation 2 forms; rank 0 dies this time: no restarts left.
  f.Join("a2", 0);
  const size_t b2 = f.Join("b2", 1);
  EXPECT_EQ(f.replies[b2]->generation(), 2);
  EXPECT_EQ(f.replies[b2]->store_prefix(), "g2/");
  EXPECT_EQ(f.replies[b2]->restarts(), 1);
  f.c->ReportExit(2, 0, "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(f.c->phase(), Phase::kFailed);
  const std::string error = f.c->Status().error();
  EXPECT_NE(error.find("rank 0 (worker a2"), std::string::npos) << error;
  EXPECT_NE(error.find("SIGKILL"), std::string::npos) << error;
  EXPECT_NE(error.find("max_restarts = 1"), std::string::npos) << error;
  EXPECT_EQ(f.Beat(1, 2).action(), v1::STOP_FAILED);
}

TEST(Coordinator, StaleReportsAreIgnoredAndAllFinishedSucceeds) {
  Fixture f(Config(2, 1));
  f.Join("a", 0);
  f.Join("b", 1);
  f.c->ReportExit(1, 1, "exit code 1");  // generation 1 -> 2
  ASSERT_EQ(f.c->generation(), 2);
  f.c->ReportExit(1, 0, "exit code 3");  // a survivor of generation 1 leaving: ignored
  EXPECT_EQ(f.c->Status().restarts(), 1);
  f.Join("a", 0);
  f.Join("b", 1);
  v1::FinishRequest done;
  done.set_job_id("job-1");
  done.set_generation(2);
  done.set_ok(true);
  ASSERT_TRUE(f.c->Finish(done).ok());
  EXPECT_EQ(f.c->phase(), Phase::kRunning);
  done.set_rank(1);
  ASSERT_TRUE(f.c->Finish(done).ok());
  EXPECT_EQ(f.c->phase(), Phase::kSucceeded);
  EXPECT_EQ(f.c->WaitDone(0ms), Phase::kSucceeded);
  EXPECT_EQ(f.Beat(0, 2).action(), v1::STOP_DONE);
  const size_t after = f.Join("late");  // a replacement pod after the end: told it succeeded
  EXPECT_EQ(f.replies[after].status().GetPayload(kJoinRefusal), absl::Cord("succeeded"));
}

TEST(Coordinator, StatusNamesTheStuckRank) {
  Fixture f(Config(3));
  f.Join("a", 0);
  f.Join("b", 1);
  f.Join("c", 2);
  f.Beat(0, 1, 5, 14);
  f.Beat(1, 1, 5, 14);
  f.Beat(2, 1, 4, 12);
  EXPECT_EQ(f.c->Status().stuck_size(), 0);  // nobody waited long yet
  f.now += 1200ms;                           // ranks 0 and 1 have waited in #14 for 1.2 s
  f.Beat(0, 1, 5, 14, 1.2);
  f.Beat(1, 1, 5, 14, 1.2);
  f.Beat(2, 1, 4, 12, 5.0);
  f.now += 1000ms;
  v1::JobStatus s = f.c->Status();
  ASSERT_EQ(s.stuck_size(), 1);
  EXPECT_NE(s.stuck(0).find("rank 2"), std::string::npos) << s.stuck(0);
  EXPECT_EQ(s.ranks(2).step(), 4);
}

TEST(Coordinator, RestartedCoordinatorContinuesFromItsState) {
  auto store = comm::MakeMemoryStore();
  {
    Fixture f(Config(2, 2), store);
    f.Join("a", 0);
    f.Join("b", 1);
    f.c->ReportExit(1, 0, "exit code 1");
    EXPECT_EQ(f.c->generation(), 2);
  }
  Fixture again(Config(2, 2), store);
  EXPECT_EQ(again.c->generation(), 3);
  EXPECT_EQ(again.c->Status().restarts(), 1);
  EXPECT_EQ(again.c->phase(), Phase::kRendezvous);
}

}  // namespace
}  // namespace mt::coord
