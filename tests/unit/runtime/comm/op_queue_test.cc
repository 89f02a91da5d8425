// OpQueue: the asynchronous engine under the Gloo and MPI backends. Ops run in issue order,
// one at a time; a waiter runs its op on its own thread (no hand-off); an op nobody waits on
// still runs, on the queue thread, announced or found by its watch; an op that throws fails
// its Work without stopping the queue; destroying the queue finishes the running op (on the
// queue thread or a waiter's) and cancels the rest.
#include "runtime/comm/op_queue.h"

#include <atomic>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace mt::comm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(OpQueue, WaiterRunsItsOpOnItsOwnThread) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  for (int i = 0; i < 100; ++i) {
    std::thread::id ran_on;
    auto work = queue.Enqueue("op", 4, -1, [&] {
      ran_on = std::this_thread::get_id();
      return absl::OkStatus();
    });
    ASSERT_TRUE(work->Wait(5s).ok());
    EXPECT_EQ(ran_on, std::this_thread::get_id()) << "op " << i << " was handed off";
  }
}

TEST(OpQueue, UnwaitedOpsRunOnTheirOwnInIssueOrder) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  // Several rounds with idle gaps between them.
  for (int round = 0; round < 3; ++round) {
    std::vector<int> order;
    std::mutex mu;
    std::vector<std::shared_ptr<Work>> works;
    const auto issued = Clock::now();
    for (int i = 0; i < 5; ++i) {
      works.push_back(queue.Enqueue("op", 4, -1, [&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
        return absl::OkStatus();
      }));
    }
    // Nobody waits: poll Done() as an overlapping caller would.
    while (!works.back()->Done()) {
      ASSERT_LT(Clock::now() - issued, 5s) << "unwaited ops never ran (round " << round << ")";
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    std::this_thread::sleep_for(5ms);
  }
}

// After many issue-then-wait ops the queue stops announcing ops to its thread; one that is
// then left unwaited must still run (the thread's watch finds it), and soon.
TEST(OpQueue, AnUnwaitedOpAfterWaitedOnesStillRuns) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(queue.Enqueue("waited", 4, -1, [] { return absl::OkStatus(); })->Wait(5s).ok());
    }
    std::atomic<bool> ran{false};
    auto lone = queue.Enqueue("lone", 4, -1, [&] {
      ran = true;
      return absl::OkStatus();
    });
    const auto issued = Clock::now();
    while (!ran) {
      ASSERT_LT(Clock::now() - issued, 2s) << "an unwaited op never ran (round " << round << ")";
      std::this_thread::sleep_for(100us);
    }
    EXPECT_TRUE(lone->Wait(1s).ok());
  }
}

// Ops issued without waiting (overlapped gradient buckets) that pile up behind the one the
// thread runs are run back to back, not each after its own grace period (200 us each: 2000
// ops would take 0.4 s; back to back they take about 1 ms here).
TEST(OpQueue, ABacklogOfUnwaitedOpsRunsBackToBack) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> started{false}, release{false};
    auto gate = queue.Enqueue("gate", 4, -1, [&] {
      started = true;
      while (!release) std::this_thread::sleep_for(100us);
      return absl::OkStatus();
    });
    while (!started) std::this_thread::sleep_for(100us);  // the thread runs the gate
    std::vector<std::shared_ptr<Work>> works;
    for (int i = 0; i < 2000; ++i) {
      works.push_back(queue.Enqueue("op", 4, -1, [] { return absl::OkStatus(); }));
    }
    const auto released = Clock::now();
    release = true;
    while (!works.back()->Done()) std::this_thread::sleep_for(100us);
    EXPECT_LT(Clock::now() - released, 300ms) << "round " << round;
    for (const auto& w : works) EXPECT_TRUE(w->Done());
    EXPECT_TRUE(gate->Done());
  }
}

TEST(OpQueue, WaitingForALaterOpRunsTheEarlierOnesFirst) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  std::vector<int> order;
  auto first = queue.Enqueue("a", 4, -1, [&] {
    order.push_back(1);
    return absl::OkStatus();
  });
  auto second = queue.Enqueue("b", 4, -1, [&] {
    order.push_back(2);
    return absl::Status(absl::StatusCode::kUnavailable, "peer gone");
  });
  const absl::Status st = second->Wait(5s);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(st.message()).find("b #"), std::string::npos) << st;
  EXPECT_TRUE(first->Done());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  const auto ops = recorder.Snapshot();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].state, OpState::kCompleted);
  EXPECT_EQ(ops[1].state, OpState::kFailed);
}

TEST(OpQueue, TwoThreadsWaitingOnDifferentOpsBothFinish) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> ran{0};
    auto a = queue.Enqueue("a", 4, -1, [&] {
      std::this_thread::sleep_for(100us);
      ++ran;
      return absl::OkStatus();
    });
    auto b = queue.Enqueue("b", 4, -1, [&] {
      ++ran;
      return absl::OkStatus();
    });
    std::thread other([&] { EXPECT_TRUE(b->Wait(5s).ok()); });
    EXPECT_TRUE(a->Wait(5s).ok());
    other.join();
    EXPECT_EQ(ran.load(), 2);
  }
}

TEST(OpQueue, DestroyingFinishesTheRunningOpAndCancelsTheRest) {
  FlightRecorder recorder;
  std::shared_ptr<Work> running, pending;
  std::atomic<bool> started{false}, release{false};
  std::thread releaser;
  {
    OpQueue queue(&recorder);
    running = queue.Enqueue("slow", 4, -1, [&] {
      started = true;
      while (!release) std::this_thread::sleep_for(1ms);
      return absl::OkStatus();
    });
    pending = queue.Enqueue("next", 4, -1, [] { return absl::OkStatus(); });
    while (!started) std::this_thread::sleep_for(1ms);  // the queue thread took it
    releaser = std::thread([&] {
      std::this_thread::sleep_for(20ms);
      release = true;
    });
  }  // ~OpQueue waits for "slow", which the releaser ends
  releaser.join();
  EXPECT_TRUE(running->Wait(1s).ok());
  EXPECT_EQ(pending->Wait(1s).code(), absl::StatusCode::kCancelled);
}

// Four threads issue ops at once, some waiting on each, some not: the ops run in the order
// they were queued and never two at a time, whoever runs them.
TEST(OpQueue, ManyIssuersOneAtATimeInQueueOrder) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  std::mutex issue_mu, run_mu;
  int next_ticket = 0;
  std::vector<int> ran;
  std::atomic<int> in_flight{0}, most{0};
  std::vector<std::thread> issuers;
  for (int t = 0; t < 4; ++t) {
    issuers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::shared_ptr<Work> work;
        {
          std::lock_guard<std::mutex> lock(issue_mu);  // ticket order == queue order
          const int ticket = next_ticket++;
          work = queue.Enqueue("op", 4, -1, [&, ticket] {
            most = std::max(most.load(), ++in_flight);
            {
              std::lock_guard<std::mutex> lock(run_mu);
              ran.push_back(ticket);
            }
            --in_flight;
            return absl::OkStatus();
          });
        }
        if ((i + t) % 3 != 0) {
          ASSERT_TRUE(work->Wait(10s).ok());
        }
      }
    });
  }
  for (auto& t : issuers) t.join();
  const auto issued = Clock::now();
  while (true) {
    {
      std::lock_guard<std::mutex> lock(run_mu);
      if (ran.size() == 800u) break;
    }
    ASSERT_LT(Clock::now() - issued, 5s) << "unwaited ops never ran";
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(most.load(), 1);
  for (int i = 0; i < 800; ++i) ASSERT_EQ(ran[i], i) << "out of order at " << i;
}

TEST(OpQueue, AnOpThatThrowsFailsItsWorkAndTheQueueGoesOn) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  auto bad = queue.Enqueue("bad", 4, -1, []() -> absl::Status { throw std::bad_alloc(); });
  const absl::Status st = bad->Wait(5s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
  EXPECT_NE(std::string(st.message()).find("bad #"), std::string::npos) << st;
  EXPECT_TRUE(queue.Enqueue("next", 4, -1, [] { return absl::OkStatus(); })->Wait(5s).ok());
}

// ~OpQueue while a waiter (not the queue thread) runs an op: it waits for that op, and the op
// queued behind it is cancelled.
TEST(OpQueue, DestroyingWhileAWaiterRunsAnOpWaitsForIt) {
  FlightRecorder recorder;
  auto queue = std::make_unique<OpQueue>(&recorder);
  std::atomic<bool> started{false}, release{false};
  absl::Status waiter_status = absl::UnknownError("not run");
  auto slow = queue->Enqueue("slow", 4, -1, [&] {
    started = true;
    while (!release) std::this_thread::sleep_for(1ms);
    return absl::OkStatus();
  });
  std::thread waiter([&] { waiter_status = slow->Wait(10s); });
  while (!started) std::this_thread::sleep_for(100us);
  auto next = queue->Enqueue("next", 4, -1, [] { return absl::OkStatus(); });
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    release = true;
  });
  queue.reset();
  releaser.join();
  waiter.join();
  EXPECT_TRUE(waiter_status.ok()) << waiter_status;
  EXPECT_EQ(next->Wait(1s).code(), absl::StatusCode::kCancelled);
}

// A Wait on an op that another thread is running sleeps (on the queue, not on the Work): it
// times out with DeadlineExceeded while the op runs, wakes when the op completes, and the op
// queued behind completes for its own waiter (who runs it, or the thread does).
TEST(OpQueue, AWaitOnAnOpRunningElsewhereSleepsUntilItCompletes) {
  FlightRecorder recorder;
  OpQueue queue(&recorder);
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> started{false}, release{false};
    auto slow = queue.Enqueue("slow", 4, -1, [&] {
      started = true;
      while (!release) std::this_thread::sleep_for(100us);
      return absl::OkStatus();
    });
    std::thread runner([&] { EXPECT_TRUE(slow->Wait(10s).ok()); });
    while (!started) std::this_thread::sleep_for(50us);
    const absl::Status early = slow->Wait(5ms);
    EXPECT_EQ(early.code(), absl::StatusCode::kDeadlineExceeded) << early;
    EXPECT_NE(std::string(early.message()).find("slow #"), std::string::npos) << early;
    absl::Status slept = absl::UnknownError("not woken");
    std::thread sleeper([&] { slept = slow->Wait(10s); });
    auto next = queue.Enqueue("next", 4, -1, [] { return absl::OkStatus(); });
    std::thread next_waiter([&] { EXPECT_TRUE(next->Wait(10s).ok()); });
    std::this_thread::sleep_for(2ms);
    release = true;
    const auto released = Clock::now();
    sleeper.join();
    EXPECT_LT(Clock::now() - released, 1s) << "the sleeper was not woken";
    EXPECT_TRUE(slept.ok()) << slept;
    runner.join();
    next_waiter.join();
    EXPECT_TRUE(next->Done());
  }
}

// A Wait sleeping on a queued op when the queue is destroyed wakes with Cancelled.
TEST(OpQueue, DestroyingWakesASleeperOnACancelledOp) {
  FlightRecorder recorder;
  auto queue = std::make_unique<OpQueue>(&recorder);
  std::atomic<bool> started{false}, release{false};
  auto slow = queue->Enqueue("slow", 4, -1, [&] {
    started = true;
    while (!release) std::this_thread::sleep_for(1ms);
    return absl::OkStatus();
  });
  std::thread runner([&] { EXPECT_TRUE(slow->Wait(10s).ok()); });
  while (!started) std::this_thread::sleep_for(100us);
  auto next = queue->Enqueue("next", 4, -1, [] { return absl::OkStatus(); });
  absl::Status next_status = absl::UnknownError("not woken");
  std::thread sleeper([&] { next_status = next->Wait(10s); });
  std::atomic<bool> resetting{false};
  std::thread releaser([&] {
    while (!resetting) std::this_thread::sleep_for(100us);
    std::this_thread::sleep_for(20ms);  // "slow" ends only after ~OpQueue has begun
    release = true;
  });
  std::this_thread::sleep_for(5ms);  // the sleeper waits behind "slow"
  resetting = true;
  queue.reset();
  releaser.join();
  runner.join();
  sleeper.join();
  EXPECT_EQ(next_status.code(), absl::StatusCode::kCancelled) << next_status;
}

}  // namespace
}  // namespace mt::comm
