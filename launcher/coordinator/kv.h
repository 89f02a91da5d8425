// The coordinator's key-value store: what the gRPC Store service serves to comm backends.
// Unlike comm::MemoryStore it never blocks a thread: a Get or Wait whose keys are missing
// parks a callback that runs when the keys appear (from the Set/Add/CompareSet that completes
// it) or when Expire() passes its deadline. That is how one coordinator serves a thousand
// workers' bootstrap waits without a thousand threads.
//
// Thread safety: all methods may be called from any thread. Callbacks run without the lock
// held, on the thread that completed them, exactly once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mt::coord {

using SteadyTime = std::chrono::steady_clock::time_point;

class AsyncKv {
 public:
  using GetDone = std::function<void(absl::StatusOr<std::string>)>;
  using WaitDone = std::function<void(absl::Status)>;

  void Set(const std::string& key, const std::string& value);
  // Adds delta to the integer at key (absent = 0); FailedPrecondition for a non-integer.
  absl::StatusOr<int64_t> Add(const std::string& key, int64_t delta);
  // Sets desired when the value equals expected (absent = ""); returns the value after.
  std::string CompareSet(const std::string& key, const std::string& expected,
                         const std::string& desired);
  // Completes with the value once key exists, or DeadlineExceeded naming it at `deadline`.
  void Get(const std::string& key, SteadyTime deadline, GetDone done);
  // Completes once every key exists, or DeadlineExceeded naming the missing ones.
  void Wait(const std::vector<std::string>& keys, SteadyTime deadline, WaitDone done);
  // Fails every parked call whose deadline is before `now`.
  void Expire(SteadyTime now);
  // Removes keys starting with `prefix` (an old generation's namespace).
  void DropPrefix(const std::string& prefix);
  // Fails every parked call with `why` (shutdown).
  void FailAll(const absl::Status& why);
  size_t parked() const;

 private:
  struct Waiter {
    std::set<std::string> missing;
    std::string get_key;  // set for Get: the value to return
    SteadyTime deadline;
    GetDone get_done;
    WaitDone wait_done;
    bool done = false;
  };
  using Ready = std::vector<std::function<void()>>;
  // Marks `key` present for its waiters; appends completions to run after unlocking.
  void NotifyLocked(const std::string& key, Ready& ready);
  void Park(std::shared_ptr<Waiter> w);
  static void Run(Ready& ready);

  mutable std::mutex mu_;
  std::map<std::string, std::string> data_;
  std::map<std::string, std::vector<std::shared_ptr<Waiter>>> by_key_;
  std::list<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace mt::coord
