// The lead rank's training metrics on their way to the coordinator: logged scalars queue here
// and each heartbeat (and Finish) carries what queued since the last one — the batching of
// the metrics fan-in. Bounded: with the coordinator unreachable the oldest points are dropped
// (the run dir's metrics.jsonl still has them). Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "meshtrain/v1/coordinator.pb.h"

namespace mt::worker {

class MetricOutbox {
 public:
  static constexpr size_t kMaxPoints = 20000;

  void Add(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, value] : values) {
      meshtrain::v1::TrainMetric m;
      m.set_step(step);
      m.set_name(name);
      m.set_value(value);
      pending_.push_back(std::move(m));
    }
    while (pending_.size() > kMaxPoints) pending_.pop_front();
  }

  // Moves the pending points into request.metrics; Restore puts them back (in front) when
  // the request could not be sent.
  template <typename Request>
  void TakeInto(Request& request) {
    std::lock_guard<std::mutex> lock(mu_);
    for (meshtrain::v1::TrainMetric& m : pending_) *request.add_metrics() = std::move(m);
    pending_.clear();
  }
  template <typename Request>
  void Restore(const Request& request) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.insert(pending_.begin(), request.metrics().begin(), request.metrics().end());
    while (pending_.size() > kMaxPoints) pending_.pop_front();
  }

 private:
  std::mutex mu_;
  std::deque<meshtrain::v1::TrainMetric> pending_;
};

}  // namespace mt::worker
