// The Prometheus text exposition format (version 0.0.4), what `/metrics` endpoints serve and
// `promtool check metrics` checks: per family a `# HELP` and `# TYPE` line, then its samples
// `name{label="value",...} number`. Histograms are cumulative buckets (`_bucket{le=...}`,
// ending with le="+Inf"), `_sum` and `_count`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mt::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class PromText {
 public:
  // Starts a family; its samples follow. `type`: counter, gauge or histogram.
  void Family(const std::string& name, const std::string& type, const std::string& help);
  void Sample(const std::string& name, const Labels& labels, double value);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Observations counted into fixed upper bounds (seconds, bytes, ...).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Appends this histogram's samples for family `name` with `labels`.
  void Write(PromText& out, const std::string& name, const Labels& labels) const;
  int64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bound, not cumulative; the last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace mt::metrics
