// Semantic rules: each is triggered alone from a valid job and must name its field and value.
#include "runtime/job/validate.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/runtime/job/job_text.h"

namespace mt::job {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::kValidJob;
using testing::Problems;
using testing::With;

TEST(Validate, ValidJobHasNoProblems) {
  EXPECT_THAT(Problems(kValidJob), IsEmpty());
  EXPECT_THAT(Problems(kValidJob, /*world=*/8), IsEmpty());
}

TEST(Validate, MeshProductMustEqualWorld) {
  EXPECT_THAT(Problems(kValidJob, 4),
              ElementsAre("mesh: dp*tp*pp = 8 must equal the world size 4 at line 4 (found "
                          "dp=2 tp=2 pp=2)"));
}

TEST(Validate, HeadsHiddenFfnVocabDivisibleByTp) {
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: 4, n_head: 3, d_model: 63, d_ff: 65, "
                            "seq_len: 32, vocab_size: 128}")),
              ElementsAre(HasSubstr("model.n_head: must be divisible by mesh.tp = 2 (heads are "
                                    "split over tp) at line 2 (found 3)"),
                          HasSubstr("model.d_model: must be divisible by mesh.tp = 2"),
                          HasSubstr("model.d_ff: must be divisible by mesh.tp = 2")));
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: 4, n_head: 4, d_model: 64, seq_len: 32, "
                            "vocab_size: 129}")),
              ElementsAre(HasSubstr("model.vocab_size: must be divisible by mesh.tp = 2")));
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: 4, n_head: 4, d_model: 62, seq_len: 32, "
                            "vocab_size: 128}")),
              ElementsAre(HasSubstr("model.d_model: must be divisible by model.n_head = 4")));
}

TEST(Validate, LayersAtLeastStages) {
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: 1, n_head: 4, d_model: 64, seq_len: 32, "
                            "vocab_size: 128}")),
              ElementsAre("model.n_layer: must be at least mesh.pp * parallel.virtual_stages = 2 "
                          "(every pipeline stage needs a layer) at line 2 (found 1)"));
}

TEST(Validate, GlobalBatchDivisibleByDpTimesMicroBatches) {
  EXPECT_THAT(Problems(With("train", "train: {global_batch: 12, steps: 10}")),
              ElementsAre("train.global_batch: must be divisible by mesh.dp * "
                          "parallel.micro_batches = 8 at line 6 (found 12)"));
}

TEST(Validate, StepsAndLrMustBePositive) {
  EXPECT_THAT(Problems(With("train", "train: {global_batch: 16, steps: 0, lr: -1}")),
              ElementsAre("train.steps: must be positive at line 6 (found 0)",
                          "train.lr: must be positive at line 6 (found -1)"));
  EXPECT_THAT(Problems(With("train", "train: {global_batch: 16, steps: -5}")),
              ElementsAre(HasSubstr("train.steps: must be positive at line 6 (found -5)")));
}

TEST(Validate, UnknownUriScheme) {
  EXPECT_THAT(Problems(With("data", "data: {uri: s3://bucket/data}")),
              ElementsAre("data.uri: unknown URI scheme 's3'; expected file:// or az:// at line 3 "
                          "(found \"s3://bucket/data\")"));
  EXPECT_THAT(Problems(std::string(kValidJob) + "checkpoint: {store: gs://b/ckpt}\n"),
              ElementsAre(HasSubstr("checkpoint.store: unknown URI scheme 'gs'")));
  EXPECT_THAT(Problems(With("data", "data: {uri: az://account}")),
              ElementsAre(HasSubstr("data.uri: expected az://ACCOUNT/CONTAINER[/PREFIX]")));
  EXPECT_THAT(Problems(With("data", "data: {uri: az://acct/container/prefix}")), IsEmpty());
  EXPECT_THAT(Problems(With("data", "data: {uri: relative/path}")), IsEmpty());
}

TEST(Validate, BackendMustFitDevice) {
  EXPECT_THAT(Problems(std::string(kValidJob) + "backend: nccl\n"),
              ElementsAre("backend: nccl needs device: cuda at line 7 (found \"nccl\")"));
  EXPECT_THAT(Problems(std::string(kValidJob) + "backend: gloo\ndevice: cuda\n"),
              ElementsAre(HasSubstr("backend: gloo moves host buffers only")));
  EXPECT_THAT(Problems(std::string(kValidJob) + "device: cuda\n"), IsEmpty());
}

TEST(Validate, ScheduleRules) {
  EXPECT_THAT(Problems(With("parallel", "parallel: {micro_batches: 4, schedule: interleaved}")),
              ElementsAre("parallel.virtual_stages: must be at least 2 with schedule: "
                          "interleaved at line 5 (found 1)"));
  EXPECT_THAT(Problems(With("parallel", "parallel: {micro_batches: 4, virtual_stages: 2}")),
              ElementsAre(HasSubstr("parallel.virtual_stages: needs schedule: interleaved")));
  EXPECT_THAT(Problems(With("parallel",
                            "parallel: {micro_batches: 4, schedule: interleaved, "
                            "virtual_stages: 2}")),
              IsEmpty());
  EXPECT_THAT(Problems(With("parallel", "parallel: {micro_batches: 4, zero: 2}")),
              ElementsAre(HasSubstr("parallel.zero: must be 0 or 1")));
}

TEST(Validate, RangesAndCrossFieldRules) {
  EXPECT_THAT(Problems(With("train", "train: {global_batch: 16, steps: 10, warmup: 10}")),
              ElementsAre(HasSubstr("train.warmup: must be less than train.steps = 10")));
  EXPECT_THAT(Problems(With("train", "train: {global_batch: 16, steps: 10, beta2: 1}")),
              ElementsAre(HasSubstr("train.beta2: must be in [0, 1)")));
  EXPECT_THAT(Problems(With("data", "data: {uri: /d, eval_fraction: 0}") + "eval: {every: 5}\n"),
              ElementsAre(HasSubstr("eval.every: evaluation needs held-out data")));
  EXPECT_THAT(Problems(std::string(kValidJob) +
                       "fault_tolerance: {heartbeat_s: 5, rendezvous_timeout_s: 5}\n"),
              ElementsAre(HasSubstr("fault_tolerance.rendezvous_timeout_s: must be more than")));
  EXPECT_THAT(Problems(std::string(kValidJob) + "checkpoint: {store: /s, keep_last: 0}\n"),
              ElementsAre(HasSubstr("checkpoint.keep_last: must be positive")));
}

TEST(Validate, NamesEndpointsAndFinetune) {
  EXPECT_THAT(Problems(With("name", "name: My_Job")),
              ElementsAre(HasSubstr("name: expected lowercase letters, digits and '-'")));
  EXPECT_THAT(Problems(std::string(kValidJob) + "control: {endpoint: localhost}\n"),
              ElementsAre(HasSubstr("control.endpoint: expected 'embedded' or HOST:PORT")));
  EXPECT_THAT(Problems(std::string(kValidJob) + "control: {endpoint: \"ctl:7070\"}\n"), IsEmpty());
  EXPECT_THAT(Problems(std::string(kValidJob) + "finetune: {base: arith-gpt}\n"),
              ElementsAre(HasSubstr("finetune.base: expected MODEL@production")));
  EXPECT_THAT(Problems(std::string(kValidJob) + "finetune: {base: arith-gpt@3}\n"), IsEmpty());
}

TEST(Validate, KubernetesResources) {
  EXPECT_THAT(Problems(std::string(kValidJob) + "resources: {ranks_per_pod: 3}\n"),
              ElementsAre(HasSubstr("resources.ranks_per_pod: must divide the world size 8")));
  EXPECT_THAT(Problems(std::string(kValidJob) + "resources: {memory: lots}\n"),
              ElementsAre(HasSubstr("resources.memory: expected a Kubernetes memory quantity")));
}

TEST(Validate, HelpersResolveSchemeWorldAndBackend) {
  EXPECT_EQ(UriScheme("file:///x"), "file");
  EXPECT_EQ(UriScheme("runs/x"), "file");
  EXPECT_EQ(UriScheme("az://a/c"), "az");
  LoadResult r = LoadJobText(kValidJob, "job.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(WorldSize(r.spec, {}), 8);
  EXPECT_EQ(ResolveBackend(r.spec, false), "gloo");
  EXPECT_EQ(ResolveBackend(r.spec, true), "mpi");
  r.spec.set_device("cuda");
  EXPECT_EQ(ResolveBackend(r.spec, true), "nccl");
}

}  // namespace
}  // namespace mt::job
