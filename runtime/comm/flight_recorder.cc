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
  const uint64_t seq = next_seq_++;
  OpRecord& r = ring_[(seq - 1) % capacity_];  // the oldest record's slot, reused
  r.seq = seq;
  r.op.assign(op);
  r.bytes = bytes;
  r.peer = peer;
  r.state = OpState::kQueued;
  r.queued = std::chrono::system_clock::now();
  r.started = r.finished = {};
  r.error.clear();
  return seq;
}

const OpRecord* FlightRecorder::Find(uint64_t seq) const {
  if (seq < Oldest() || seq >= next_seq_) return nullptr;
  const OpRecord& r = ring_[(seq - 1) % capacity_];
  return r.seq == seq ? &r : nullptr;
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
    if (!error.empty()) r->error = error;
  }
}

std::vector<OpRecord> FlightRecorder::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<OpRecord> out;
  for (uint64_t seq = Oldest(); seq < next_seq_; ++seq) out.push_back(*Find(seq));
  return out;
}

std::string FlightRecorder::Describe(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (const OpRecord* found = Find(seq)) {
    const OpRecord& r = *found;
    const auto end = r.state == OpState::kRunning ? std::chrono::system_clock::now() : r.finished;
    const double s = std::chrono::duration<double>(end - r.started).count();
    return fmt::format("{} #{} ({} bytes{}) {}{}", r.op, r.seq, r.bytes,
                       r.peer >= 0 ? fmt::format(", peer {}", r.peer) : "", OpStateName(r.state),
                       r.state == OpState::kQueued ? "" : fmt::format(" for {:.1f} s", s));
  }
  return "";
}

}  // namespace mt::comm
