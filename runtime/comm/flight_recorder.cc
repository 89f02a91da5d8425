// Flight recorder (see flight_recorder.h).
#include "runtime/comm/flight_recorder.h"

#include "fmt/format.h"

namespace mt::comm {

std::string_view OpStateName(OpState s) {
  switch (s) {
    case OpState::kQueued:
      return "queued";
    case OpState::kRunning:
      return "running";
    case OpState::kCompleted:
      return "completed";
    case OpState::kFailed:
      return "failed";
  }
  return "?";
}

uint64_t FlightRecorder::Queue(std::string op, int64_t bytes, int peer) {
  std::lock_guard<std::mutex> lock(mu_);
  OpRecord r;
  r.seq = next_seq_++;
  r.op = std::move(op);
  r.bytes = bytes;
  r.peer = peer;
  r.queued = std::chrono::system_clock::now();
  ops_.push_back(std::move(r));
  if (ops_.size() > capacity_) ops_.pop_front();
  return ops_.back().seq;
}

OpRecord* FlightRecorder::Find(uint64_t seq) {
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    if (it->seq == seq) return &*it;
  }
  return nullptr;
}

void FlightRecorder::Start(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  if (OpRecord* r = Find(seq)) {
    r->state = OpState::kRunning;
    r->started = std::chrono::system_clock::now();
  }
}

void FlightRecorder::Finish(uint64_t seq, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (OpRecord* r = Find(seq)) {
    r->state = error.empty() ? OpState::kCompleted : OpState::kFailed;
    r->finished = std::chrono::system_clock::now();
    r->error = error;
  }
}

std::vector<OpRecord> FlightRecorder::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {ops_.begin(), ops_.end()};
}

std::string FlightRecorder::Describe(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const OpRecord& r : ops_) {
    if (r.seq != seq) continue;
    const auto end = r.state == OpState::kRunning ? std::chrono::system_clock::now() : r.finished;
    const double s = std::chrono::duration<double>(end - r.started).count();
    return fmt::format("{} #{} ({} bytes{}) {}{}", r.op, r.seq, r.bytes,
                       r.peer >= 0 ? fmt::format(", peer {}", r.peer) : "", OpStateName(r.state),
                       r.state == OpState::kQueued ? "" : fmt::format(" for {:.1f} s", s));
  }
  return "";
}

}  // namespace mt::comm
