// Opening a run's data (see run_data.h).
#include "train/run_data.h"

#include <numeric>

#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/data/dataset.h"
#include "runtime/storage/blob_store.h"

namespace mt::train {
namespace {

using meshtrain::v1::JobSpec;

absl::Status CheckFits(const JobSpec& spec, const data::DatasetIndex& index) {
  const auto& m = spec.model();
  if (index.vocab_size > m.vocab_size()) {
    return absl::InvalidArgumentError(
        fmt::format("data.uri: dataset vocab_size {} does not fit model.vocab_size {} ({})",
                    index.vocab_size, m.vocab_size(), spec.data().uri()));
  }
  if (index.sample_len < m.seq_len() + 1) {
    return absl::InvalidArgumentError(fmt::format(
        "data.uri: dataset samples have {} tokens; model.seq_len {} needs at least {} ({})",
        index.sample_len, m.seq_len(), m.seq_len() + 1, spec.data().uri()));
  }
  if (spec.data().loss_on() == "answers" && !index.answer) {
    return absl::InvalidArgumentError(fmt::format(
        "data.loss_on: 'answers' needs a dataset that declares answer spans; {} does not",
        spec.data().uri()));
  }
  return absl::OkStatus();
}

data::LoaderOptions LoaderOptionsFor(const JobSpec& spec, DpSlice slice, int64_t train_samples) {
  data::LoaderOptions o;
  o.global_batch = spec.train().global_batch();
  o.dp = slice.dp;
  o.dp_rank = slice.rank;
  o.num_samples = train_samples;
  o.seed = static_cast<uint64_t>(spec.data().shuffle_seed());
  o.window_shards = spec.data().shuffle_window();
  o.prefetch_shards = spec.data().prefetch();
  o.cache_bytes = int64_t{spec.data().cache_mb()} << 20;
  return o;
}

}  // namespace

absl::StatusOr<TrainData> OpenData(const JobSpec& spec, DpSlice slice,
                                   std::function<void(const data::ShardInfo&)> on_fetched,
                                   int64_t cursor) {
  auto opened = storage::OpenBlobStore(spec.data().uri());
  if (!opened.ok()) return Annotate(opened.status(), "data.uri");
  std::shared_ptr<storage::BlobStore> store = std::move(*opened);
  auto index = data::OpenIndex(*store);
  if (!index.ok()) return Annotate(index.status(), "data.uri");
  MT_RETURN_IF_ERROR(CheckFits(spec, *index));
  TrainData d;
  d.index = std::move(*index);
  const int64_t n = d.index.Samples("train");
  std::string eval_split = "train";
  int64_t train_samples = n, eval_first = 0;
  if (d.index.Samples("eval") > 0) {
    MT_LOG(kInfo, kData,
           "{}: using the dataset's own eval split ({} samples); data.eval_fraction "
           "applies only to datasets without one",
           spec.data().uri(), d.index.Samples("eval"));
    eval_split = "eval";
    d.eval_size = d.index.Samples("eval");
  } else {
    // No eval split in the dataset: hold out the last eval_fraction of the train samples.
    d.eval_size = static_cast<int64_t>(n * spec.data().eval_fraction());
    train_samples = n - d.eval_size;
    eval_first = train_samples;
  }
  if (train_samples <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("data.uri: no training samples in {}", spec.data().uri()));
  }
  // eval.batches counts batches of global_batch samples, scored in micro_batches pieces each:
  // the samples evaluated, and so the metric, do not depend on micro_batches or the mesh.
  d.eval_batch = spec.train().global_batch() / spec.parallel().micro_batches();
  d.eval_batches = int64_t{spec.eval().batches()} * spec.parallel().micro_batches();
  std::vector<int64_t> eval_ids(std::min(d.eval_size, d.eval_batches * d.eval_batch));
  std::iota(eval_ids.begin(), eval_ids.end(), eval_first);
  auto table = data::ReadSamples(*store, d.index, eval_split, eval_ids, on_fetched);
  if (!table.ok()) return Annotate(table.status(), "data.uri");
  d.eval_table = std::move(*table);
  data::LoaderOptions lo = LoaderOptionsFor(spec, slice, train_samples);
  lo.start_position = cursor;
  lo.on_fetched = std::move(on_fetched);
  auto loader = data::Loader::Open(store, d.index, "train", std::move(lo));
  if (!loader.ok()) {
    const bool cache = loader.status().code() == absl::StatusCode::kFailedPrecondition;
    return Annotate(loader.status(), cache ? "data.cache_mb" : "data.uri");
  }
  d.loader = std::move(*loader);
  return d;
}

}  // namespace mt::train
