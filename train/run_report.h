// What only the lead rank writes while a run trains: metrics.jsonl and TensorBoard events
// (RUN_DIR/tb), each record passed on to TrainOptions::on_metrics, and summary.json at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "runtime/core/status.h"
#include "runtime/metrics/jsonl_sink.h"
#include "runtime/metrics/tensorboard_sink.h"
#include "train/trainer.h"

namespace mt::train {

// What only rank 0 does: the metrics file, TensorBoard events (RUN_DIR/tb) and the progress
// line. Every record goes to both sinks (its numbers as scalars at its step).
class Reporter {
 public:
  absl::Status Open(const std::string& run_dir, bool resumed) {
    // A resumed run continues its metrics; a fresh one starts them.
    MT_RETURN_IF_ERROR(jsonl_.Open(run_dir + "/metrics.jsonl", /*truncate=*/!resumed));
    return tb_.Open(run_dir + "/tb");
  }
  absl::Status Restart(int64_t step) { return tb_.Restart(step); }
  absl::Status Write(const nlohmann::json& record) {
    MT_RETURN_IF_ERROR(jsonl_.Write(record));
    TrainOptions::Scalars scalars;
    for (const auto& [k, v] : record.items()) {
      if (k != "step" && v.is_number()) scalars.emplace_back(k, v.get<double>());
    }
    const int64_t step = record.at("step").get<int64_t>();
    if (on_metrics) on_metrics(step, scalars);
    return tb_.Scalars(step, scalars);
  }

  std::function<void(int64_t, const TrainOptions::Scalars&)> on_metrics;

 private:
  metrics::JsonlSink jsonl_;
  metrics::TensorBoardSink tb_;
};

// Writes RUN_DIR/summary.json (atomically).
absl::Status WriteSummary(const TrainOptions& o, const TrainSummary& s);

}  // namespace mt::train
