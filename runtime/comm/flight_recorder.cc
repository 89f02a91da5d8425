// Flight recorder (see flight_recorder.h).
#include "runtime/comm/flight_recorder.h"

#include <time.h>

#include <mutex>

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

FlightRecorder::Time FlightRecorder::CoarseNow() {
  timespec ts{};
  // Linux: libstdc++'s steady_clock is CLOCK_MONOTONIC, whose tick-resolution reading this is.
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Time(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

uint64_t FlightRecorder::Queue(std::string_view op, int64_t bytes, int peer) {
  const Time now = CoarseNow();
  std::lock_guard<SpinLock> lock(mu_);
  const uint64_t seq = next_seq_++;
  OpRecord& r = ring_[next_slot_];  // the oldest record's slot, reused
  next_slot_ = next_slot_ + 1 == capacity_ ? 0 : next_slot_ + 1;
  r.seq = seq;
  r.op = op;
  r.bytes = bytes;
  r.peer = peer;
  r.state = OpState::kQueued;
  r.queued = now;
  r.started = r.finished = {};
  r.error.clear();
  return seq;
}

const OpRecord* FlightRecorder::Find(uint64_t seq) const {
  if (seq < Oldest() || seq >= next_seq_) return nullptr;
  // Counted back from the newest record's slot (no division per lookup).
  const size_t back = static_cast<size_t>(next_seq_ - seq);  // 1 for the newest
  const OpRecord& r = ring_[next_slot_ >= back ? next_slot_ - back : next_slot_ + capacity_ - back];
  return r.seq == seq ? &r : nullptr;
}

void FlightRecorder::Start(uint64_t seq) {
  const Time now = CoarseNow();
  std::lock_guard<SpinLock> lock(mu_);
  if (OpRecord* r = Find(seq)) {
    r->state = OpState::kRunning;
    r->started = now;
  }
}

FlightRecorder::Time FlightRecorder::Finish(uint64_t seq, std::string_view error) {
  const Time now = CoarseNow();
  std::lock_guard<SpinLock> lock(mu_);
  if (OpRecord* r = Find(seq)) {
    r->state = error.empty() ? OpState::kCompleted : OpState::kFailed;
    r->finished = now;
    if (!error.empty()) r->error.assign(error);
  }
  return now;
}

std::vector<OpRecord> FlightRecorder::Snapshot() const {
  std::vector<OpRecord> out;
  out.reserve(capacity_);  // no allocation under the spin lock but error strings
  std::lock_guard<SpinLock> lock(mu_);
  for (uint64_t seq = Oldest(); seq < next_seq_; ++seq) out.push_back(*Find(seq));
  return out;
}

std::optional<OpRecord> FlightRecorder::Last() const {
  std::lock_guard<SpinLock> lock(mu_);
  if (next_seq_ == 1) return std::nullopt;
  return *Find(next_seq_ - 1);
}

std::string FlightRecorder::Describe(uint64_t seq) const {
  std::optional<OpRecord> found;
  {
    std::lock_guard<SpinLock> lock(mu_);  // copied out: formatting allocates
    if (const OpRecord* r = Find(seq)) found = *r;
  }
  if (!found) return "";
  const OpRecord& r = *found;
  // An op that never started (queued, or cancelled before it ran) has no duration.
  const bool ran = r.started != std::chrono::steady_clock::time_point{};
  const auto end = r.state == OpState::kRunning ? std::chrono::steady_clock::now() : r.finished;
  const double s = std::chrono::duration<double>(end - r.started).count();
  return fmt::format("{} #{} ({} bytes{}) {}{}", r.op, r.seq, r.bytes,
                     r.peer >= 0 ? fmt::format(", peer {}", r.peer) : "", OpStateName(r.state),
                     ran ? fmt::format(" for {:.1f} s", s) : "");
}

}  // namespace mt::comm
