// Checkpoint save and restore throughput against `dd` on the same filesystem and bytes, the
// training-visible cost of an async save, and the checkpoint overhead at the quickstart's
// interval, in one run. Rows:
//   - sync save (snapshot + HDF5 encode + write + fsync + commit) vs `dd conv=fdatasync` of
//     the same file's bytes;
//   - restore (tensors read straight into the model, each XXH64-checked, then the file XXH64) from
//   a cold
//     page cache vs a cold `dd` read of the same file (both after POSIX_FADV_DONTNEED);
//   - async save: time Save() blocks training vs the sync save time;
//   - the quickstart model trained 250 steps with an async save every 50 vs none: the wall
//     time share (noisy on 2 shared cores) and the time training was blocked.
// Goals (issue 7): save >= 0.7 x dd, restore >= 0.7 x dd, async blocking <= 0.1 x sync,
// overhead <= 3.5%.
//
//   bench/ckpt_bench [--dir DIR] [--layers 8] [--d-model 512] [--repeat 3] [--steps 250]
//                    [--every 50] [--json FILE]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "CLI/CLI.hpp"
#include "bench/common/bench_info.h"
#include "bench/common/bench_model.h"
#include "bench/common/util.h"
#include "checkpoint/store/committer.h"
#include "fmt/format.h"
#include "runtime/optim/adamw.h"
#include "train/checkpointing.h"

namespace {

using namespace mt;
using mt::bench::Check;
using mt::bench::Clock;
using mt::bench::Since;

// Drops a file's pages from the page cache, so the next read comes from the disk.
void DropCache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

double TimeShell(const std::string& cmd) {
  const auto t0 = Clock::now();
  if (std::system(cmd.c_str()) != 0) Check(absl::InternalError("failed: " + cmd));
  return Since(t0);
}

struct Model {
  std::unique_ptr<nn::Model> gpt;
  std::unique_ptr<optim::AdamW> opt;
};

Model MakeModel(int64_t layers, int64_t d, uint64_t seed) {
  const bench::ModelSize size{layers, d / 64 > 0 ? d / 64 : 1, d, 64, 256};
  Model m;
  m.gpt = bench::MakeModel(size, seed);
  m.opt = std::make_unique<optim::AdamW>(m.gpt->Parameters(), optim::AdamWConfig{});
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, 1e-3f);
  for (auto& t : m.opt->m()) {
    for (int64_t i = 0; i < t.numel(); ++i) t.Data<float>()[i] = n(rng);
  }
  for (auto& t : m.opt->v()) {
    for (int64_t i = 0; i < t.numel(); ++i) t.Data<float>()[i] = n(rng) * n(rng);
  }
  return m;
}

std::unique_ptr<train::Checkpointer> Saver(std::shared_ptr<ckpt::CheckpointStore> store,
                                           bool async) {
  auto committer = std::make_shared<ckpt::Committer>(store, 1, 2);
  train::CheckpointerOptions o;
  o.store = store;
  o.async = async;
  o.report = [committer](const ckpt::Manifest& f) {
    return committer->Report(f, f.files.front()).status();
  };
  auto saver = train::Checkpointer::Create(o);
  Check(saver.status());
  return std::move(*saver);
}

struct Trained {
  double wall_s = 0, blocked_s = 0;
};

// `steps` quickstart training steps, with an async save every `every` steps if `store`.
Trained TrainQuickstart(int64_t steps, int64_t every,
                        std::shared_ptr<ckpt::CheckpointStore> store) {
  auto model = bench::MakeModel({4, 4, 128, 12, 256}, 42);
  optim::AdamW opt(model->Parameters(), optim::AdamWConfig{});
  std::vector<int32_t> tokens(128 * 12), targets(128 * 12);
  std::mt19937 rng(1);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = targets[i] = rng() % 256;
  auto saver = store ? Saver(store, /*async=*/true) : nullptr;
  const auto t0 = Clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    model->ZeroGrad();
    model->Forward(tokens.data(), targets.data(), 128, 12);
    model->Backward(1.0f);
    opt.Step(1e-3);
    if (saver && (s + 1) % every == 0) Check(saver->Save(*model, opt, s + 1, 0, {}));
  }
  if (saver) Check(saver->Wait());
  return {Since(t0), saver ? saver->blocked_s() : 0.0};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Checkpoint save/restore vs dd, async blocking, overhead"};
  std::string dir = "/tmp/meshtrain-ckpt-bench", json_path;
  int64_t layers = 8, d_model = 512, steps = 250, every = 50;
  int repeat = 3;
  app.add_option("--dir", dir, "Directory on the filesystem to measure");
  app.add_option("--layers", layers, "Layers of the saved model");
  app.add_option("--d-model", d_model, "Width of the saved model");
  app.add_option("--repeat", repeat, "Best of this many per row");
  app.add_option("--steps", steps, "Quickstart steps for the overhead row");
  app.add_option("--every", every, "Save interval (steps) in the overhead row");
  app.add_option("--json", json_path, "Also write JSON");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = *ckpt::CheckpointStore::Open(dir + "/store");

  Model m = MakeModel(layers, d_model, 7);
  double save_s = 1e30, dd_write_s = 1e30, restore_s = 1e30, dd_read_s = 1e30, async_s = 1e30;
  int64_t bytes = 0;
  // One async saver for the run (its snapshot buffers are reused), on a store of its own.
  auto async = Saver(*ckpt::CheckpointStore::Open(dir + "/store-async"), true);
  for (int r = 0; r < repeat; ++r) {
    auto sync = Saver(store, false);
    auto t0 = Clock::now();
    Check(sync->Save(*m.gpt, *m.opt, 100 + r, 0, {}));
    save_s = std::min(save_s, Since(t0));
    const int64_t version = *store->Latest();
    const ckpt::Manifest manifest = *store->ReadManifest(version);
    const std::string file =
        dir + "/store/" + ckpt::VersionDir(version) + "/" + manifest.files[0].name;
    bytes = manifest.files[0].bytes;
    dd_write_s = std::min(dd_write_s, TimeShell("dd if=" + file + " of=" + dir +
                                                "/dd.bin bs=8M conv=fdatasync status=none"));
    DropCache(file);
    Model fresh = MakeModel(layers, d_model, 8);
    t0 = Clock::now();
    Check(train::Restore(*store, version, *fresh.gpt, *fresh.opt).status());
    restore_s = std::min(restore_s, Since(t0));
    DropCache(file);
    dd_read_s = std::min(dd_read_s, TimeShell("dd if=" + file + " of=/dev/null bs=8M status=none"));
    t0 = Clock::now();
    Check(async->Save(*m.gpt, *m.opt, 200 + r, 0, {}));
    async_s = std::min(async_s, Since(t0));
    Check(async->Wait());
  }
  // The quickstart model saved every `every` steps (its eval interval is 250) vs not at all.
  const double plain = std::min(TrainQuickstart(steps, every, nullptr).wall_s,
                                TrainQuickstart(steps, every, nullptr).wall_s);
  Trained with = TrainQuickstart(steps, every, store), again = TrainQuickstart(steps, every, store);
  if (again.wall_s < with.wall_s) with = again;
  const double overhead = std::max(0.0, with.wall_s - plain) / with.wall_s;
  const double blocked_share = with.blocked_s / with.wall_s;

  const double mib = bytes / 1048576.0;
  std::printf(
      "# checkpoint of %lld layers x d_model %lld (params + AdamW moments): %.1f MiB, "
      "best of %d, %s\n",
      static_cast<long long>(layers), static_cast<long long>(d_model), mib, repeat, dir.c_str());
  std::printf("%-46s %9s %9s %8s\n", "row", "seconds", "MiB/s", "ratio");
  std::printf("%-46s %9.3f %9.1f %8s\n", "dd conv=fdatasync (same bytes)", dd_write_s,
              mib / dd_write_s, "");
  std::printf("%-46s %9.3f %9.1f %8.2f\n", "sync save (goal >= 0.7 x dd)", save_s, mib / save_s,
              dd_write_s / save_s);
  std::printf("%-46s %9.3f %9.1f %8s\n", "dd read, cold (same file)", dd_read_s, mib / dd_read_s,
              "");
  std::printf("%-46s %9.3f %9.1f %8.2f\n", "restore, cold (goal >= 0.7 x dd)", restore_s,
              mib / restore_s, dd_read_s / restore_s);
  std::printf("%-46s %9.3f %9s %8.3f\n", "async save: training blocked (goal <= 0.1 x sync)",
              async_s, "", async_s / save_s);
  std::printf("%-46s %9.2f %9s %8s\n",
              fmt::format("quickstart {} steps, no checkpoint", steps).c_str(), plain, "", "");
  std::printf("%-46s %9.2f %9s %7.2f%%\n",
              fmt::format("  async save every {} steps: wall time share", every).c_str(),
              with.wall_s, "", 100 * overhead);
  std::printf("%-46s %9.3f %9s %7.2f%%\n", "  of which training blocked (goal <= 3.5%)",
              with.blocked_s, "", 100 * blocked_share);
  if (!json_path.empty()) {
    nlohmann::json j = {{"run", bench::RunInfo()},
                        {"mib", mib},
                        {"save_s", save_s},
                        {"dd_write_s", dd_write_s},
                        {"save_vs_dd", dd_write_s / save_s},
                        {"restore_s", restore_s},
                        {"dd_read_s", dd_read_s},
                        {"restore_vs_dd", dd_read_s / restore_s},
                        {"async_blocked_s", async_s},
                        {"async_vs_sync", async_s / save_s},
                        {"quickstart_plain_s", plain},
                        {"quickstart_with_save_s", with.wall_s},
                        {"overhead", overhead},
                        {"blocked_share", blocked_share}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  std::filesystem::remove_all(dir);
  return 0;
}
