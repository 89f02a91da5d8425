// Runs a communicator's ops in issue order on one background thread and hands out Work
// handles: how host backends whose engine calls block (Gloo, MPI) become asynchronous, so data
// parallelism can overlap communication with backward. Every op is recorded in the flight
// recorder (queued -> running -> completed/failed).
//
// Waiting helps: when Work::Wait finds its op still queued, the waiting thread runs the
// queued ops itself, in order, up to its own (first waiting, until its deadline, for an op
// another thread is running). Issue-then-wait (the common,
// non-overlapped case) then costs no thread hand-off: on a busy 2-core host each hand-off
// measured ~0.1-1 ms (bench/RESULTS.md).
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

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/comm/backend.h"
#include "runtime/comm/flight_recorder.h"

namespace mt::comm {

class OpQueue {
 public:
  explicit OpQueue(FlightRecorder* recorder);
  // Fails (Cancelled) every op not yet started, finishes the running one, joins the thread.
  ~OpQueue();

  // `run` executes on the queue thread or on a thread waiting for it, never two at once and
  // in issue order; its Status completes the returned Work.
  std::shared_ptr<Work> Enqueue(std::string op, int64_t bytes, int peer,
                                std::function<absl::Status()> run);

 private:
  void Loop();

 public:
  struct State;  // shared with the Works, which may outlive the queue (defined in op_queue.cc)

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace mt::comm
