// Flight recorder: the last N collectives of a communicator (c10d style), so `meshtrain
// status` can say which rank is stuck in which collective and a failure report can name the
// op and sequence number. Thread-safe; recording costs one short lock per state change and
// no allocation: records live in a ring of `capacity` slots that are reused (a deque that
// allocated and freed a block every few ops cost 2-3% of a 64 KiB MPI allgather).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace mt::comm {

enum class OpState { kQueued, kRunning, kCompleted, kFailed };
std::string_view OpStateName(OpState s);

struct OpRecord {
  uint64_t seq = 0;  // per communicator, from 1
  std::string op;    // "allreduce", "send", ...
  int64_t bytes = 0;
  int peer = -1;  // root or peer where it applies
  OpState state = OpState::kQueued;
  std::chrono::system_clock::time_point queued, started, finished;
  std::string error;  // set when failed
};

class FlightRecorder {
 public:
  explicit FlightRecorder(size_t capacity = 64)
      : capacity_(capacity > 0 ? capacity : 1), ring_(capacity_) {}
  // Records a new op as queued and returns its sequence number.
  uint64_t Queue(std::string op, int64_t bytes, int peer);
  void Start(uint64_t seq);
  void Finish(uint64_t seq, const std::string& error);  // empty error: completed
  std::vector<OpRecord> Snapshot() const;               // oldest first
  // "allreduce #12 (4194304 bytes) running for 3.2 s" or "" when nothing ran.
  std::string Describe(uint64_t seq) const;

 private:
  // The record of `seq` while it is among the last `capacity` ops, else null.
  const OpRecord* Find(uint64_t seq) const;
  OpRecord* Find(uint64_t seq) {
    return const_cast<OpRecord*>(static_cast<const FlightRecorder*>(this)->Find(seq));
  }
  uint64_t Oldest() const { return next_seq_ > capacity_ ? next_seq_ - capacity_ : 1; }
  mutable std::mutex mu_;
  size_t capacity_;
  uint64_t next_seq_ = 1;
  std::vector<OpRecord> ring_;  // seq s in slot (s - 1) % capacity
};

}  // namespace mt::comm
