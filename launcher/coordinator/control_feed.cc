// Feeding the control service (see control_feed.h).
#include "launcher/coordinator/control_feed.h"

#include <algorithm>

#include "checkpoint/store/manifest.h"
#include "runtime/core/logging.h"

namespace mt::coord {

nlohmann::json CommitRecord(const std::string& job_id, const std::string& store_uri,
                            const ckpt::Manifest& m) {
  nlohmann::json files = nlohmann::json::array();
  for (const ckpt::FileEntry& f : m.files) {
    files.push_back({{"name", f.name}, {"rank", f.rank}, {"bytes", f.bytes}, {"xxh64", f.xxh64}});
  }
  return {{"job", job_id},      {"store", store_uri},     {"version", m.version}, {"step", m.step},
          {"parent", m.parent}, {"job_hash", m.job_hash}, {"files", files}};
}

ControlFeed::ControlFeed(Opener open, std::string job_id, std::string model, bool forward_metrics)
    : open_(std::move(open)),
      job_id_(std::move(job_id)),
      model_(std::move(model)),
      forward_metrics_(forward_metrics) {
  thread_ = std::thread([this] { Run(); });
}

ControlFeed::~ControlFeed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ControlFeed::Audit(std::string kind, nlohmann::json body) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    records_.emplace_back(std::move(kind), std::move(body));
    ++queued_;
  }
  cv_.notify_all();
}

void ControlFeed::Metrics(std::vector<control::MetricPoint> points) {
  if (points.empty() || !forward_metrics_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    points_.insert(points_.end(), std::make_move_iterator(points.begin()),
                   std::make_move_iterator(points.end()));
    ++queued_;
  }
  cv_.notify_all();
}

bool ControlFeed::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t target = queued_;
  return cv_.wait_for(lock, timeout, [&] { return sent_ >= target; });
}

ControlFeed::Counts ControlFeed::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void ControlFeed::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || queued_ > sent_; });
    if (queued_ == sent_ && stop_) return;
    std::vector<std::pair<std::string, nlohmann::json>> records;
    std::vector<control::MetricPoint> points;
    records.swap(records_);
    points.swap(points_);
    const int64_t batch = queued_;
    lock.unlock();
    Send(records, points);
    lock.lock();
    sent_ = batch;
    cv_.notify_all();
  }
}

void ControlFeed::Send(std::vector<std::pair<std::string, nlohmann::json>>& records,
                       std::vector<control::MetricPoint>& points) {
  if (!api_) {
    auto api = open_();
    if (!api.ok()) {
      Failed("opening the control service", api.status());
      return;
    }
    api_ = std::move(*api);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    const auto r = api_->AppendAudit(records[i].first, records[i].second.dump());
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.calls;
      counts_.records += r.ok();
      if (r.ok()) failing_ = 0;
    }
    if (!r.ok()) Failed("audit record", r.status());
    if (!r.ok() && Unreachable(r.status())) {  // the rest would each wait out the deadline
      Dropped(records.size() - i - 1 + (points.empty() ? 0 : 1));
      return;
    }
  }
  // Calls of at most kPointsPerCall points (~40 bytes each): far below gRPC's 4 MiB limit on
  // a message, however much queued while the service was slow.
  for (size_t at = 0; at < points.size(); at += kPointsPerCall) {
    const size_t n = std::min(kPointsPerCall, points.size() - at);
    const std::vector<control::MetricPoint> chunk(points.begin() + at, points.begin() + at + n);
    const auto sent = api_->ReportMetrics(job_id_, model_, chunk);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.calls;
      if (sent.ok()) {
        counts_.points += *sent;
        failing_ = 0;
      }
    }
    if (!sent.ok()) Failed("metrics", sent.status());
    if (!sent.ok() && Unreachable(sent.status())) {
      Dropped((points.size() - at - n + kPointsPerCall - 1) / kPointsPerCall);
      return;
    }
  }
}

bool ControlFeed::Unreachable(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kUnavailable &&
      s.code() != absl::StatusCode::kDeadlineExceeded) {
    return false;
  }
  api_.reset();  // reopened (a fresh channel) for the next batch
  return true;
}

void ControlFeed::Dropped(size_t calls) {
  if (calls == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  counts_.failures += static_cast<int64_t>(calls);
}

void ControlFeed::Failed(const char* what, const absl::Status& s) {
  int failing = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.failures;
    failing = ++failing_;
  }
  if (failing == 1 || failing % 100 == 0) {
    MT_LOG(kWarn, kCoord, "control service: {} not sent ({} failure(s) in a row): {}", what,
           failing, std::string(s.message()));
  }
}

}  // namespace mt::coord
