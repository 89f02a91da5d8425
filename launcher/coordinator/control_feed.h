// What a job tells its control service while it runs (DESIGN §2: the coordinator's metrics
// fan-in, the audit of data and checkpoints): audit records — shards read with their
// checksums, checkpoint versions committed — and training metric points, sent from a
// background thread so heartbeats and commits never wait on SQLite or the network. Metric
// points are batched: what queued since the last send goes out in ReportMetrics calls of at
// most kPointsPerCall points.
//
// The service is the job's (control.endpoint: the embedded registry file or a running
// `meshtrain control`), opened at the first send. A failed send is logged (the first of a run
// of failures, then a count) and dropped: the audit must not stop training. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "control/service/control_api.h"
#include "nlohmann/json.hpp"

namespace mt::ckpt {
struct Manifest;
}

namespace mt::coord {

// The audit record of a committed checkpoint version: job, store, version, step, parent and
// every file with its size and XXH64.
nlohmann::json CommitRecord(const std::string& job_id, const std::string& store_uri,
                            const ckpt::Manifest& m);

class ControlFeed {
 public:
  static constexpr size_t kPointsPerCall = 8192;  // metric points per ReportMetrics call

  using Opener = std::function<absl::StatusOr<std::unique_ptr<control::ControlApi>>()>;
  // `job_id` and `model` label the metric points. Without `forward_metrics`, Metrics() drops
  // them (the embedded service: the run dir's metrics.jsonl and tb/ are the sinks already).
  ControlFeed(Opener open, std::string job_id, std::string model, bool forward_metrics);
  ~ControlFeed();  // sends what is queued, then stops

  // Queue; never blocks on I/O.
  void Audit(std::string kind, nlohmann::json body);
  void Metrics(std::vector<control::MetricPoint> points);
  // Blocks until everything queued before the call was sent (or failed), at most `timeout`;
  // false when it timed out. An unreachable service fails a batch's first call (each call has
  // a 10 s deadline) and drops the rest of it, so a flush takes one deadline, not one per call.
  bool Flush(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  struct Counts {
    int64_t records = 0, points = 0, calls = 0, failures = 0;
  };
  Counts counts() const;

 private:
  void Run();
  void Send(std::vector<std::pair<std::string, nlohmann::json>>& records,
            std::vector<control::MetricPoint>& points);
  void Failed(const char* what, const absl::Status& s);
  // Unavailable or DeadlineExceeded: the service is away (drops the connection).
  bool Unreachable(const absl::Status& s);
  void Dropped(size_t calls);  // counted as failures

  Opener open_;
  const std::string job_id_, model_;
  const bool forward_metrics_;
  std::unique_ptr<control::ControlApi> api_;  // the sender thread's
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, nlohmann::json>> records_;
  std::vector<control::MetricPoint> points_;
  int64_t queued_ = 0, sent_ = 0;  // batches: Flush waits for sent_ to reach queued_
  bool stop_ = false;
  Counts counts_;
  int failing_ = 0;  // consecutive failures (logged first and every 100th)
  std::thread thread_;
};

}  // namespace mt::coord
