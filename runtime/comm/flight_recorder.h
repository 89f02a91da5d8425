// Flight recorder: the last N collectives of a communicator (c10d style), so `meshtrain
// status` can say which rank is stuck in which collective and a failure report can name the
// op and sequence number. Thread-safe; recording costs one short lock and one clock read per
// state change and no allocation: records live in a ring of `capacity` slots that are reused
// (a deque that allocated and freed a block every few ops cost 2-3% of a 64 KiB MPI
// allgather).
// Times are steady_clock's timebase read at tick resolution (CLOCK_MONOTONIC_COARSE, 4 ms
// here): enough to say which op has been running for how long, which is what a flight
// recorder is for (c10d's records ops "discovered" started and completed by its watchdog's
// polls likewise). A full-resolution read costs 24 ns on this VM against 5 ns; the queue's
// six per op were half of its cost (perf of bench/comm/op_queue_bench).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mt::comm {

enum class OpState { kQueued, kRunning, kCompleted, kFailed };
std::string_view OpStateName(OpState s);

struct OpRecord {
  uint64_t seq = 0;     // per communicator, from 1
  std::string_view op;  // "allreduce", "send", ... (a string literal: see Queue)
  int64_t bytes = 0;
  int peer = -1;  // root or peer where it applies
  OpState state = OpState::kQueued;
  std::chrono::steady_clock::time_point queued, started, finished;
  std::string error;  // set when failed
};

class FlightRecorder {
 public:
  explicit FlightRecorder(size_t capacity = 64)
      : capacity_(capacity > 0 ? capacity : 1), ring_(capacity_) {}
  using Time = std::chrono::steady_clock::time_point;
  // Now, at tick resolution (never ahead of steady_clock::now()).
  static Time CoarseNow();
  // Records a new op as queued and returns its sequence number. `op` must outlive the
  // recorder (a string literal), so recording copies no string.
  uint64_t Queue(std::string_view op, int64_t bytes, int peer);
  void Start(uint64_t seq);
  // Empty error: completed. Returns the time it recorded.
  Time Finish(uint64_t seq, std::string_view error);
  std::vector<OpRecord> Snapshot() const;  // oldest first
  std::optional<OpRecord> Last() const;    // the newest, if any (heartbeats)
  // "allreduce #12 (4194304 bytes) running for 3.2 s" or "" when nothing ran.
  std::string Describe(uint64_t seq) const;

 private:
  // The record of `seq` while it is among the last `capacity` ops, else null.
  const OpRecord* Find(uint64_t seq) const;
  OpRecord* Find(uint64_t seq) {
    return const_cast<OpRecord*>(static_cast<const FlightRecorder*>(this)->Find(seq));
  }
  uint64_t Oldest() const { return next_seq_ > capacity_ ? next_seq_ - capacity_ : 1; }
  // A spin lock, not a mutex: every section is a few stores (Snapshot copies at most
  // `capacity` records), and unlocking is a plain store instead of a second atomic
  // read-modify-write and two library calls, three times per op.
  class SpinLock {
   public:
    void lock() {
      while (held_.exchange(true, std::memory_order_acquire)) {
        while (held_.load(std::memory_order_relaxed)) std::this_thread::yield();
      }
    }
    void unlock() { held_.store(false, std::memory_order_release); }

   private:
    std::atomic<bool> held_{false};
  };
  mutable SpinLock mu_;
  size_t capacity_;
  uint64_t next_seq_ = 1;
  size_t next_slot_ = 0;        // where the next record goes: (next_seq_ - 1) % capacity_
  std::vector<OpRecord> ring_;  // seq s in slot (s - 1) % capacity
};

}  // namespace mt::comm
