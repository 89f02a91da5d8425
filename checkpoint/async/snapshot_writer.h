// The host side of an asynchronous checkpoint save (DESIGN §3 "Async"): at a step boundary the
// tensors are copied into host buffers kept from save to save, and a background thread writes
// them while training goes on. Synchronous saves use the same calls and write in place.
//
// Use per save: Begin(); Stage() every tensor the write reads; Launch(write). At most one write
// is in flight: Begin waits for the previous one and returns its error. Not thread-safe (the
// training thread drives it); the write runs on the writer thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace mt::ckpt {

class SnapshotWriter {
 public:
  explicit SnapshotWriter(bool async) : async_(async) {}
  ~SnapshotWriter();  // waits for a write in flight
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Starts a save: waits for the previous write and returns its status.
  absl::Status Begin();
  // What the write should read for the `n` values at `data`: `data` itself when synchronous
  // (the write ends before training changes it), else a snapshot buffer the copy fills at
  // Launch (reused by the next save, so its pages stay mapped and the copy runs at memory speed).
  const float* Stage(const float* data, int64_t n);
  // Copies every staged tensor (all cores: the only part of an async save training waits for),
  // then runs `write`: on the writer thread (async; its error surfaces in the next Begin or in
  // Wait) or now (sync; its status is returned).
  absl::Status Launch(std::function<absl::Status()> write);
  // Waits for the write in flight; its status.
  absl::Status Wait();
  // Time Begin..Launch and Wait kept training waiting, in seconds.
  double blocked_s() const { return blocked_s_; }

 private:
  struct Copy {
    const float* from;
    float* to;
    int64_t n;
  };
  void CopyStaged();

  const bool async_;
  std::vector<std::vector<float>> buffers_;
  size_t used_ = 0;
  std::vector<Copy> copies_;  // Stage plans them, Launch runs them
  std::chrono::steady_clock::time_point began_;
  double blocked_s_ = 0;
  std::thread writer_;
  absl::Status writer_status_;  // of the write in writer_, read after join
};

}  // namespace mt::ckpt
