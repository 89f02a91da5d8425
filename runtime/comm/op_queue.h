// Runs a communicator's ops in issue order on one background thread and hands out Work
// handles: how host backends whose engine calls block (Gloo, MPI) become asynchronous, so data
// parallelism can overlap communication with backward. Every op is recorded in the flight
// recorder (queued -> running -> completed/failed).
//
// Waiting helps: when Work::Wait finds its op still queued, the waiting thread runs the
// queued ops itself, in order, up to its own (first waiting, until its deadline, for an op
// another thread is running). Issue-then-wait (the common, non-overlapped case) then costs no
// thread hand-off: on a busy 2-core host each hand-off measured ~0.1-1 ms (bench/RESULTS.md).
//
// What an op costs the caller is kept small because a 64 KiB shared-memory collective takes
// only ~5 us: one allocation (the callable lives in the op's item, not in a std::function), no
// full-resolution clock read (the recorder reads a coarse clock; the thread times its grace
// period itself), a lock-free done flag, and a Work without a mutex or condition variable of
// its own (the rare Wait that must sleep sleeps on the queue's). About 0.1 us for an empty op
// issued and waited on (bench/comm/op_queue_bench).
//
// The thread is not even woken per op when the communicator is used that way: an op is
// announced to the thread only if one of the last 16 ops finished was run by the thread (the
// caller overlaps: the thread should start this one after the grace period), if ops are
// already waiting, or if the thread is parked after a second without ops. Otherwise the thread
// finds it on its own within kWatch (5 ms) - the bound on how late an unannounced op that nobody
// waits on starts. Waking the thread per op cost MPI allreduce 25-35% at 32 KiB-2 MiB on
// 2 cores, as the woken thread preempted a rank mid-collective (bench/RESULTS.md); a timerfd
// armed per op instead cost 9 us per op on this VM (timer reprogramming).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include "runtime/comm/backend.h"
#include "runtime/comm/flight_recorder.h"

namespace mt::comm {

class OpQueue {
 public:
  explicit OpQueue(FlightRecorder* recorder);
  // Fails (Cancelled) every op not yet started, finishes the running one, joins the thread.
  ~OpQueue();

  // `run` (a callable returning absl::Status) executes on the queue thread or on a thread
  // waiting for it, never two at once and in issue order; its Status completes the returned
  // Work. `op` names the op in the flight recorder and in errors; it must outlive the Work (a
  // string literal). A callable of up to kInline bytes (ops capture a few pointers and counts)
  // is kept in the op's own allocation, so an op costs one allocation; a larger one goes to
  // the heap in a std::function (and must then be copyable).
  template <typename F>
  std::shared_ptr<Work> Enqueue(std::string_view op, int64_t bytes, int peer, F run);

  static constexpr size_t kInline = 128;
  // How an op's callable is moved into its item, run there and destroyed.
  struct Callable {
    void (*move_to)(void* from, void* to);
    absl::Status (*call)(void* self);
    void (*destroy)(void* self);
  };

 private:
  std::shared_ptr<Work> Push(std::string_view op, int64_t bytes, int peer, const Callable& ops,
                             void* run);
  void Loop();

 public:
  struct State;  // shared with the Works, which may outlive the queue (defined in op_queue.cc)

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

template <typename F>
std::shared_ptr<Work> OpQueue::Enqueue(std::string_view op, int64_t bytes, int peer, F run) {
  if constexpr (sizeof(F) <= kInline && alignof(F) <= alignof(std::max_align_t)) {
    static constexpr Callable kOps{
        [](void* from, void* to) { new (to) F(std::move(*static_cast<F*>(from))); },
        [](void* self) -> absl::Status { return (*static_cast<F*>(self))(); },
        [](void* self) { static_cast<F*>(self)->~F(); }};
    return Push(op, bytes, peer, kOps, &run);
  } else {
    return Enqueue(op, bytes, peer, std::function<absl::Status()>(std::move(run)));
  }
}

}  // namespace mt::comm
