// The data side of a training run: the dataset opened for this rank (its streaming loader and
// the evaluation samples in memory), checked against the model, and the exactly-once trace.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/core/params.h"
#include "runtime/core/status.h"
#include "runtime/data/index.h"
#include "runtime/data/loader.h"
#include "runtime/metrics/jsonl_sink.h"

namespace mt::train {

struct TrainData {
  data::DatasetIndex index;
  std::unique_ptr<data::Loader> loader;  // this rank's slice of every global batch
  // Evaluation walks the eval set in order, wrapping: the first min(size, batches * batch)
  // eval samples, read once at start (every rank holds them; each scores its own batches).
  std::vector<uint16_t> eval_table;
  int64_t eval_size = 0;
  int64_t eval_batch = 0;    // samples per evaluation batch: global_batch / micro_batches
  int64_t eval_batches = 0;  // evaluation batches: eval.batches x micro_batches
};

// Data parallelism: every rank of dp rank `dp_rank` (all its tp and pp peers) reads that
// slice of each global batch.
struct DpSlice {
  int dp = 1, rank = 0;
};

// Opens data.uri for dp slice `slice`, the loader starting at global sample `cursor`. Errors
// name the field (data.uri, data.cache_mb) and the dataset: missing, mismatched with the model
// (vocabulary, sequence length, answer spans), no training samples.
absl::StatusOr<TrainData> OpenData(const meshtrain::v1::JobSpec& spec, DpSlice slice,
                                   std::function<void(const data::ShardInfo&)> on_fetched,
                                   int64_t cursor);

// MT_DATA_TRACE: one line per rank and step with the sample ids trained on (exactly-once
// checks). Each line goes out in one flushed append (O_APPEND), so ranks sharing the file
// interleave whole lines.
class DataTrace {
 public:
  absl::Status Record(int rank, int64_t step, const data::Samples& s) {
    if (params::DataTrace().empty()) return absl::OkStatus();
    if (!open_) {
      MT_RETURN_IF_ERROR(sink_.Open(params::DataTrace(), /*truncate=*/false));
      open_ = true;
    }
    return sink_.Write({{"rank", rank}, {"step", step}, {"position", s.position}, {"ids", s.ids}});
  }

 private:
  metrics::JsonlSink sink_;
  bool open_ = false;
};

}  // namespace mt::train
