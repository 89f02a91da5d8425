// Loader throughput against the trainer it feeds, in one run against Azurite (bench/data/run.sh
// starts it). Rows:
//   - the quickstart dataset (2-digit addition, 60000 samples of 13 tokens, 15 shards) streamed
//     cold through the loader at the quickstart's global batch, vs the quickstart trainer's
//     consumption (tokens/s of full steps of the quickstart model, measured here);
//   - the same loader feeding that trainer: the share of step time spent waiting for data;
//   - a larger synthetic dataset (samples of 1025 tokens, 16 MiB shards) streamed cold: the
//     loader's raw rate in MiB/s and tokens/s.
// Goal (issue 8): loader tokens/s >= 2 x the trainer's consumption, so the step never waits.
//
//   bench/loader_bench --endpoint http://127.0.0.1:PORT/devstoreaccount1 [--steps 60]
//                      [--synthetic-mb 128] [--json FILE]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/bench_model.h"
#include "bench/common/util.h"
#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/data/addition.h"
#include "runtime/data/dataset.h"
#include "runtime/data/loader.h"
#include "runtime/data/writer.h"
#include "runtime/optim/adamw.h"
#include "runtime/storage/azure_store.h"
#include "train/batch.h"

namespace {

using namespace mt;
using mt::bench::Check;
using mt::bench::Clock;
using mt::bench::Since;

constexpr char kKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
constexpr int64_t kBatch = 128, kSeq = 12;  // examples/quickstart.yaml

// Uploads the dataset in `dir` to az://devstoreaccount1/<name>; returns the store.
std::shared_ptr<storage::BlobStore> Upload(const storage::AzureCredentials& creds,
                                           const std::string& dir, const std::string& name) {
  const std::string uri = "az://devstoreaccount1/" + name;
  Check(storage::CreateAzureContainer(uri, creds));
  auto local = storage::OpenBlobStore(dir);
  auto remote = storage::OpenAzureStore(uri, creds);
  Check(local.status());
  Check(remote.status());
  Check(data::CopyDataset(**local, **remote));
  return std::move(*remote);
}

std::string WriteSynthetic(const std::string& dir, int64_t mb) {
  Check(MakeDirs(dir));
  data::DatasetIndex h;
  h.vocab_size = 50257;
  h.sample_len = 1025;
  const int64_t per_shard = (int64_t{16} << 20) / (h.sample_len * 2);
  data::DatasetWriter w(dir, h, per_shard);
  std::mt19937 rng(7);
  std::vector<int32_t> sample(h.sample_len);
  for (int64_t i = 0; i < (mb << 20) / (h.sample_len * 2); ++i) {
    for (int32_t& t : sample) t = static_cast<int32_t>(rng() % h.vocab_size);
    Check(w.Add("train", sample));
  }
  Check(w.Finish());
  return dir;
}

struct Stream {
  double seconds = 0, tokens_per_s = 0, mib_per_s = 0;
};

// Reads `steps` batches of `batch` (whole epochs when steps < 0) from a fresh loader.
Stream StreamCold(std::shared_ptr<storage::BlobStore> store, int64_t batch, int64_t steps) {
  auto index = data::OpenIndex(*store);
  Check(index.status());
  data::LoaderOptions o;
  o.global_batch = batch;
  o.cache_bytes = int64_t{1} << 30;
  if (steps < 0) steps = index->Samples("train") / batch;
  const auto t0 = Clock::now();
  auto loader = data::Loader::Open(store, *index, "train", o);
  Check(loader.status());
  for (int64_t s = 0; s < steps; ++s) Check((*loader)->Next().status());
  Stream r;
  r.seconds = Since(t0);
  const double tokens = static_cast<double>(steps) * batch * (index->sample_len - 1);
  r.tokens_per_s = tokens / r.seconds;
  r.mib_per_s = (*loader)->stats().cache.bytes_fetched / r.seconds / (1 << 20);
  return r;
}

// The quickstart model's training step, fed by `next` (a loader or a fixed batch); returns
// tokens/s and the seconds `next` took in all.
std::pair<double, double> Train(const data::DatasetIndex& index, int64_t steps,
                                const std::function<data::Samples()>& next) {
  auto model = bench::MakeModel({4, 4, 128, kSeq, 256}, 42);
  optim::AdamW opt(model->Parameters(), optim::AdamWConfig{});
  train::Batch b;
  double waited = 0;
  const auto t0 = Clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    const auto w = Clock::now();
    const data::Samples batch = next();
    waited += Since(w);
    train::BuildBatch(index, batch.tokens.data(), kBatch, kSeq, b);  // as training does
    model->ZeroGrad();
    model->Forward(b.tokens.data(), b.targets.data(), kBatch, kSeq);
    model->Backward(1.0f);
    opt.Step(1e-3);
  }
  return {steps * kBatch * kSeq / Since(t0), waited};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Streaming loader vs the trainer it feeds"};
  std::string endpoint, json_path;
  int64_t steps = 60, synthetic_mb = 128;
  app.add_option("--endpoint", endpoint, "Azurite blob endpoint")->required();
  app.add_option("--steps", steps, "Trainer steps per trainer row");
  app.add_option("--synthetic-mb", synthetic_mb, "Size of the synthetic dataset (MiB)");
  app.add_option("--json", json_path, "Also write JSON");
  CLI11_PARSE(app, argc, argv);

  storage::AzureCredentials creds{"devstoreaccount1", kKey, "", endpoint};
  char tmpl[] = "/tmp/meshtrain-loader-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  data::AdditionOptions add;
  add.digits = 2;
  add.train_samples = 60000;
  add.eval_samples = 1024;
  add.sample_len = 13;
  Check(data::WriteAdditionDataset(dir + "/add2", add));
  auto add2 = Upload(creds, dir + "/add2", "bench-add2");
  auto synthetic = Upload(creds, WriteSynthetic(dir + "/synthetic", synthetic_mb), "bench-syn");

  const Stream quick = StreamCold(add2, kBatch, -1);
  auto fixed = data::Samples{};
  fixed.tokens.assign(kBatch * 13, 5);
  auto index = *data::OpenIndex(*add2);
  const auto [trainer_tps, unused] = Train(index, steps, [&] { return fixed; });
  (void)unused;
  // The loader feeding the trainer: how long the steps waited for data.
  data::LoaderOptions o;
  o.global_batch = kBatch;
  auto loader = *data::Loader::Open(add2, index, "train", o);
  const auto [fed_tps, waited] = Train(index, steps, [&] { return *loader->Next(); });
  const double fed_seconds = steps * kBatch * kSeq / fed_tps;
  const Stream big = StreamCold(synthetic, 16, -1);

  std::printf("# streaming loader on Azurite (loopback), cold cache; trainer = quickstart model\n");
  std::printf("%-44s %12s %9s\n", "row", "tokens/s", "MiB/s");
  std::printf("%-44s %12.0f %9.1f\n", "loader, quickstart data (batch 128 x 12)",
              quick.tokens_per_s, quick.mib_per_s);
  std::printf("%-44s %12.0f %9s\n", "trainer consumption (quickstart model)", trainer_tps, "-");
  std::printf("%-44s %12.1f %9s\n", "  loader / trainer (goal >= 2)",
              quick.tokens_per_s / trainer_tps, "-");
  std::printf("%-44s %12.0f %9s\n", "trainer fed by the loader", fed_tps, "-");
  std::printf("%-44s %11.2f%% %9s\n", "  step time waiting for data", 100 * waited / fed_seconds,
              "-");
  std::printf("%-44s %12.0f %9.1f\n",
              fmt::format("loader, synthetic {} MiB (1024-token samples)", synthetic_mb).c_str(),
              big.tokens_per_s, big.mib_per_s);
  if (!json_path.empty()) {
    nlohmann::json j = {{"run", bench::RunInfo()},
                        {"loader_quickstart_tokens_s", quick.tokens_per_s},
                        {"trainer_tokens_s", trainer_tps},
                        {"loader_vs_trainer", quick.tokens_per_s / trainer_tps},
                        {"fed_trainer_tokens_s", fed_tps},
                        {"fed_wait_fraction", waited / fed_seconds},
                        {"loader_synthetic_tokens_s", big.tokens_per_s},
                        {"loader_synthetic_mib_s", big.mib_per_s}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  std::filesystem::remove_all(dir);
  return 0;
}
