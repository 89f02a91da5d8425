// The parallelism contract (DESIGN §3): any mesh (dp, tp, pp), with the same global batch,
// seed and data, trains the same model as one process. Each mesh runs its ranks as threads
// over Gloo on loopback for 20 steps of a tiny GPT (4 layers, 4 heads, vocab 64) through the
// very ParallelModel the trainer uses; per-step losses and the final parameters (gathered from
// the tensor and pipeline slices) are compared with the single-process run. Also ZeRO-1 (and
// its optimizer memory: 1/dp), GPipe, 1F1B and interleaved schedules.
//
// Tolerances (fp32; what differs is summation order: tensor-parallel partial sums, the
// vocab-parallel softmax, float all-reduces): loss within 1e-5 relative at every step,
// parameters within 5e-5 absolute after 20 AdamW steps (measured: see the log lines; about
// 1e-7 and 5e-6).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "checkpoint/store/committer.h"
#include "fmt/format.h"
#include "runtime/comm/factory.h"
#include "runtime/comm/store.h"
#include "runtime/job/load.h"
#include "runtime/optim/schedule.h"
#include "train/checkpointing.h"
#include "train/parallel_model.h"

namespace mt::train {
namespace {

constexpr int kSteps = 20;
constexpr int kGlobalBatch = 16;
constexpr int kSeq = 16;
constexpr int kVocab = 64;

struct Mesh {
  int dp = 1, tp = 1, pp = 1;
  std::string schedule = "1f1b";
  int virtual_stages = 1;
  int zero = 0;
  std::string Name() const {
    return fmt::format("dp{}_tp{}_pp{}_{}{}{}", dp, tp, pp, schedule,
                       virtual_stages > 1 ? fmt::format("_v{}", virtual_stages) : "",
                       zero ? "_zero1" : "");
  }
};

meshtrain::v1::JobSpec SpecFor(const Mesh& m) {
  const std::string yaml = fmt::format(
      "name: equivalence\n"
      "model: {{arch: gpt, n_layer: 4, n_head: 4, d_model: 32, seq_len: {}, vocab_size: {}}}\n"
      "data: {{uri: file:///nonexistent}}\n"
      "mesh: {{dp: {}, tp: {}, pp: {}}}\n"
      "parallel: {{micro_batches: 4, schedule: {}, virtual_stages: {}, zero: {}, bucket_mb: "
      "0.01}}\n"
      "train: {{global_batch: {}, steps: {}, lr: 3e-3, warmup: 2, clip: 1.0, seed: 7}}\n",
      kSeq, kVocab, m.dp, m.tp, m.pp, m.schedule, m.virtual_stages, m.zero, kGlobalBatch, kSteps);
  job::LoadOptions o;
  o.world = m.dp * m.tp * m.pp;
  job::LoadResult r = job::LoadJobText(yaml, "equivalence", o);
  EXPECT_TRUE(r.ok()) << job::FormatProblems(r.problems);
  return r.spec;
}

data::DatasetIndex Index() {
  data::DatasetIndex index;
  index.vocab_size = kVocab;
  index.sample_len = kSeq + 1;
  return index;
}

// Step `step`'s global batch: counting sequences from random starts (learnable, so the loss
// falls); dp rank r takes its contiguous share.
data::Samples SliceOf(int step, int dp, int rank) {
  std::mt19937 gen(1000 + step);
  std::vector<uint16_t> all(kGlobalBatch * (kSeq + 1));
  for (size_t i = 0; i < all.size(); ++i) {
    all[i] =
        static_cast<uint16_t>(i % (kSeq + 1) == 0 ? gen() % kVocab : (all[i - 1] + 1) % kVocab);
  }
  const int per = kGlobalBatch / dp;
  data::Samples s;
  s.position = int64_t{step} * kGlobalBatch + rank * per;
  for (int i = 0; i < per; ++i) s.ids.push_back(s.position + i);
  s.tokens.assign(all.begin() + rank * per * (kSeq + 1),
                  all.begin() + (rank + 1) * per * (kSeq + 1));
  return s;
}

struct Outcome {
  std::vector<double> losses;                        // per step, as rank 0 saw them
  std::map<std::string, std::vector<float>> params;  // the whole model after the last step
  int64_t optimizer_bytes = 0;                       // rank 0's optimizer state
  int64_t model_elements = 0;                        // rank 0's parameters
};

// Steps [from, to) of the 20-step run.
void Train(ParallelModel& pm, int rank, Outcome* out, int from = 0, int to = kSteps) {
  const data::DatasetIndex index = Index();
  const optim::LrSchedule lr{3e-3, 0.1, 2, kSteps, "cosine"};
  for (int step = from; step < to; ++step) {
    auto r = pm.Step(SliceOf(step, pm.shape().dp, pm.coords().dp), index, lr.At(step));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->stats.finite);
    if (rank == 0) out->losses.push_back(r->loss);
  }
  auto full = pm.GatherFull();
  ASSERT_TRUE(full.ok()) << full.status();
  if (rank != 0) return;
  for (nn::Parameter* p : (*full)->Parameters()) {
    const float* v = p->value.Data<float>();
    out->params[p->name].assign(v, v + p->value.numel());
  }
  for (nn::Parameter* p : pm.model().Parameters()) out->model_elements += p->value.numel();
  out->optimizer_bytes = pm.zero() ? pm.zero()->state_bytes() : out->model_elements * 8;
}

// Checkpoints around a run: resume from the latest version of `resume` (a store URI) before
// step `from`, save one version into `save` after step `to`.
struct Checkpointing {
  int from = 0, to = kSteps;
  std::string resume, save;
};

// One rank: builds its part of the mesh, restores, trains, saves.
void RunRank(const meshtrain::v1::JobSpec& spec, comm::Backend* world, const Checkpointing& c,
             const std::shared_ptr<ckpt::Committer>& committer, Outcome* run) {
  const int rank = world ? world->rank() : 0;
  auto pm = ParallelModel::Create(spec, world);
  ASSERT_TRUE(pm.ok()) << pm.status();
  if (!c.resume.empty()) {
    auto store = ckpt::CheckpointStore::Open(c.resume);
    ASSERT_TRUE(store.ok()) << store.status();
    auto restored = RestoreTogether(world, **store, 0, (*pm)->model(), (*pm)->CheckpointState());
    ASSERT_TRUE(restored.ok()) << restored.status();
    ASSERT_EQ(restored->step, c.from);
    (*pm)->ScatterState();
  }
  std::unique_ptr<Checkpointer> saver;
  if (!c.save.empty()) {  // created before any rank can save (the steps are collective)
    CheckpointerOptions o;
    o.store = *ckpt::CheckpointStore::Open(c.save);
    o.rank = rank;
    o.world = world ? world->size() : 1;
    o.dp = (*pm)->shape().dp;
    o.dp_rank = (*pm)->coords().dp;
    o.mesh = {(*pm)->shape().dp, (*pm)->shape().tp, (*pm)->shape().pp};
    o.report = [committer](const ckpt::Manifest& f) {
      return committer->Report(f, f.files.front()).status();
    };
    auto created = Checkpointer::Create(std::move(o));
    ASSERT_TRUE(created.ok()) << created.status();
    saver = std::move(*created);
  }
  Train(**pm, rank, run, c.from, c.to);
  if (saver) {
    ASSERT_TRUE((*pm)->GatherState().ok());
    ASSERT_TRUE(
        saver
            ->Save((*pm)->model(), (*pm)->CheckpointState(), c.to, int64_t{c.to} * kGlobalBatch, {})
            .ok());
    (*pm)->ReleaseState();
    ASSERT_TRUE(saver->Wait().ok());
  }
}

Outcome RunMesh(const Mesh& m, const Checkpointing& c = {}) {
  Outcome run;
  const meshtrain::v1::JobSpec spec = SpecFor(m);
  const int world = m.dp * m.tp * m.pp;
  std::shared_ptr<ckpt::Committer> committer;
  if (!c.save.empty()) {
    committer = std::make_shared<ckpt::Committer>(*ckpt::CheckpointStore::Open(c.save), world, 3);
  }
  if (world == 1) {
    RunRank(spec, nullptr, c, committer, &run);
    return run;
  }
  auto store = comm::MakePrefixStore(m.Name() + c.resume + c.save, comm::MakeMemoryStore());
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      auto backend = comm::CreateBackend("gloo", store, r, world);
      ASSERT_TRUE(backend.ok()) << backend.status();
      RunRank(spec, backend->get(), c, committer, &run);
    });
  }
  for (auto& t : threads) t.join();
  return run;
}

const Outcome& Reference() {
  static const Outcome* reference = new Outcome(RunMesh(Mesh{}));
  return *reference;
}

void PrintTo(const Mesh& m, std::ostream* os) { *os << m.Name(); }

class MeshEquivalence : public ::testing::TestWithParam<Mesh> {};

TEST_P(MeshEquivalence, LossesAndParametersEqualOneProcess) {
  const Outcome& one = Reference();
  ASSERT_EQ(one.losses.size(), static_cast<size_t>(kSteps));
  const Outcome mesh = RunMesh(GetParam());
  ASSERT_EQ(mesh.losses.size(), one.losses.size());
  double worst_loss = 0, worst_param = 0;
  for (int s = 0; s < kSteps; ++s) {
    const double rel = std::abs(mesh.losses[s] - one.losses[s]) / std::abs(one.losses[s]);
    worst_loss = std::max(worst_loss, rel);
    EXPECT_LT(rel, 1e-5) << "step " << s + 1 << ": " << mesh.losses[s] << " vs " << one.losses[s];
  }
  ASSERT_EQ(mesh.params.size(), one.params.size());
  for (const auto& [name, values] : one.params) {
    const auto& got = mesh.params.at(name);
    ASSERT_EQ(got.size(), values.size()) << name;
    for (size_t i = 0; i < values.size(); ++i) {
      worst_param = std::max(worst_param, static_cast<double>(std::abs(got[i] - values[i])));
    }
  }
  EXPECT_LT(worst_param, 5e-5);
  // The loss must have moved: equal trajectories of a model that does not learn prove little.
  EXPECT_LT(one.losses.back(), one.losses.front() - 0.05);
  std::printf("%s: worst loss difference %.2e relative, worst parameter difference %.2e\n",
              GetParam().Name().c_str(), worst_loss, worst_param);
}

INSTANTIATE_TEST_SUITE_P(
    Meshes, MeshEquivalence,
    ::testing::Values(Mesh{1, 1, 1}, Mesh{2, 1, 1}, Mesh{1, 2, 1}, Mesh{1, 1, 2}, Mesh{2, 2, 1},
                      Mesh{2, 1, 2}, Mesh{1, 2, 2}, Mesh{2, 2, 2}, Mesh{2, 1, 1, "1f1b", 1, 1},
                      Mesh{2, 2, 2, "1f1b", 1, 1}, Mesh{1, 1, 2, "gpipe"}, Mesh{2, 2, 2, "gpipe"},
                      Mesh{1, 1, 2, "interleaved", 2}, Mesh{2, 2, 2, "interleaved", 2, 1}),
    [](const auto& info) { return info.param.Name(); });

// Reshard: a checkpoint saved by one mesh after 10 steps, resumed by another for the last 10:
// every resumed step's loss equals the uninterrupted single-process run's within the
// equivalence tolerance, and so do the final parameters.
struct ReshardCase {
  Mesh saved, resumed;
};

void PrintTo(const ReshardCase& c, std::ostream* os) {
  *os << c.saved.Name() << "_to_" << c.resumed.Name();
}

class Reshard : public ::testing::TestWithParam<ReshardCase> {};

TEST_P(Reshard, ResumedStepsEqualTheUninterruptedRun) {
  const Outcome& one = Reference();
  char tmpl[] = "/tmp/meshtrain-reshard-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string store = "file://" + dir + "/ck";
  const Outcome first = RunMesh(GetParam().saved, {0, kSteps / 2, "", store});
  ASSERT_EQ(first.losses.size(), static_cast<size_t>(kSteps / 2));
  const Outcome second = RunMesh(GetParam().resumed, {kSteps / 2, kSteps, store, ""});
  ASSERT_EQ(second.losses.size(), static_cast<size_t>(kSteps / 2));
  double worst = 0, worst_param = 0;
  for (int s = 0; s < kSteps / 2; ++s) {
    const double want = one.losses[kSteps / 2 + s];
    worst = std::max(worst, std::abs(second.losses[s] - want) / want);
  }
  EXPECT_LT(worst, 1e-5);
  for (const auto& [name, values] : one.params) {
    const auto& got = second.params.at(name);
    for (size_t i = 0; i < values.size(); ++i) {
      worst_param = std::max(worst_param, static_cast<double>(std::abs(got[i] - values[i])));
    }
  }
  EXPECT_LT(worst_param, 5e-5);
  std::printf(
      "%s -> %s: worst loss difference %.2e relative over the resumed steps, worst "
      "parameter difference %.2e\n",
      GetParam().saved.Name().c_str(), GetParam().resumed.Name().c_str(), worst, worst_param);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Meshes, Reshard,
    ::testing::Values(ReshardCase{Mesh{2, 2, 2}, Mesh{1, 1, 1}},
                      ReshardCase{Mesh{2, 2, 2}, Mesh{4, 1, 2}},
                      ReshardCase{Mesh{2, 2, 2}, Mesh{2, 2, 1}},
                      ReshardCase{Mesh{2, 2, 2}, Mesh{2, 2, 2, "1f1b", 1, 1}},
                      ReshardCase{Mesh{2, 2, 2, "1f1b", 1, 1}, Mesh{1, 2, 2}},
                      ReshardCase{Mesh{1, 1, 1}, Mesh{2, 2, 2, "interleaved", 2}}),
    [](const auto& info) { return info.param.saved.Name() + "_to_" + info.param.resumed.Name(); });

// A damaged file that only one pipeline stage reads: that stage alone would fall back to the
// older version; the ranks agree on it (RestoreTogether), so both resume step 5.
TEST(ReshardFallback, DamagedFileOfOneStageSendsEveryRankBackTogether) {
  const Outcome& one = Reference();
  char tmpl[] = "/tmp/meshtrain-fallback-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string store = "file://" + dir + "/ck";
  const Mesh pp2{1, 1, 2};
  RunMesh(pp2, {0, 5, "", store});                                // version 1: step 5
  RunMesh(pp2, {5, 10, store, store});                            // version 2: step 10
  const std::string file = dir + "/ck/versions/2/rank-00001.h5";  // stage 1's layers
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(file) / 2));
  f.put('\x5a');
  f.close();
  const Outcome resumed = RunMesh(pp2, {5, kSteps, store, ""});  // asserts step 5 on each rank
  ASSERT_EQ(resumed.losses.size(), static_cast<size_t>(kSteps - 5));
  for (int s = 0; s < kSteps - 5; ++s) {
    EXPECT_NEAR(resumed.losses[s], one.losses[5 + s], 1e-5 * one.losses[5 + s]) << s;
  }
  std::filesystem::remove_all(dir);
}

TEST(ZeroOne, OptimizerStatePerRankIsOneOverDp) {
  const Outcome plain = RunMesh(Mesh{1, 1, 1});
  const Outcome zero = RunMesh(Mesh{2, 1, 1, "1f1b", 1, 1});
  const int64_t unsharded = plain.optimizer_bytes;  // m and v of every parameter
  EXPECT_EQ(unsharded, plain.model_elements * 8);
  // Half, rounded up to whole elements of the padded flat space.
  EXPECT_EQ(zero.optimizer_bytes, (plain.model_elements + 1) / 2 * 8);
  std::printf("optimizer state per rank: %lld bytes unsharded, %lld with zero: 1 at dp = 2\n",
              static_cast<long long>(unsharded), static_cast<long long>(zero.optimizer_bytes));
}

}  // namespace
}  // namespace mt::train
