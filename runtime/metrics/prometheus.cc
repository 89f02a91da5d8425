// Prometheus text format (see prometheus.h).
#include "runtime/metrics/prometheus.h"

#include <cmath>

#include "fmt/format.h"

namespace mt::metrics {
namespace {

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
std::string Escape(const std::string& s, bool quotes) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

}  // namespace

void PromText::Family(const std::string& name, const std::string& type, const std::string& help) {
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, Escape(help, false), name, type);
}

void PromText::Sample(const std::string& name, const Labels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      text_ +=
          fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, Escape(labels[i].second, true));
    }
    text_ += '}';
  }
  text_ += ' ' + Number(value) + '\n';
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::Write(PromText& out, const std::string& name, const Labels& labels) const {
  int64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    Labels with = labels;
    with.emplace_back("le", i < bounds_.size() ? Number(bounds_[i]) : "+Inf");
    out.Sample(name + "_bucket", with, static_cast<double>(cumulative));
  }
  out.Sample(name + "_sum", labels, sum_);
  out.Sample(name + "_count", labels, static_cast<double>(count_));
}

}  // namespace mt::metrics
