// Runs a communicator's ops in issue order on one background thread and hands out Work
// handles: how host backends whose engine calls block (Gloo, MPI) become asynchronous, so data
// parallelism can overlap communication with backward. Every op is recorded in the flight
// recorder (queued -> running -> completed/failed).
#pragma once

#include <condition_variable>
#include <deque>
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

  // `run` executes on the queue thread; its Status completes the returned Work.
  std::shared_ptr<Work> Enqueue(std::string op, int64_t bytes, int peer,
                                std::function<absl::Status()> run);
  // A Work that is already complete with `status` (for ops rejected before queueing).
  static std::shared_ptr<Work> Completed(absl::Status status);

 private:
  struct Item;
  void Loop();

  FlightRecorder* recorder_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Item>> items_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mt::comm
