// Job loading: YAML syntax, unknown keys, types, required fields, defaults and choices, each
// reported as "<field.path>: <what> [at line N] (found <value>)".
#include "runtime/job/load.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/runtime/job/job_text.h"

namespace mt::job {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kValidJob;
using testing::Problems;
using testing::With;

TEST(LoadJob, ValidJobLoadsWithDefaultsApplied) {
  LoadResult r = LoadJobText(kValidJob, "job.yaml");
  ASSERT_TRUE(r.ok()) << FormatProblems(r.problems);
  EXPECT_EQ(r.spec.name(), "unit-job");
  EXPECT_EQ(r.spec.model().n_layer(), 4);
  EXPECT_EQ(r.spec.model().arch(), "gpt");         // default
  EXPECT_EQ(r.spec.train().schedule(), "cosine");  // default
  EXPECT_DOUBLE_EQ(r.spec.train().beta2(), 0.95);  // default
  EXPECT_DOUBLE_EQ(r.spec.train().lr(), 1e-3);     // given
  EXPECT_EQ(r.spec.backend(), "auto");
  EXPECT_TRUE(r.spec.has_fault_tolerance());  // "{}" block materialised
  EXPECT_DOUBLE_EQ(r.spec.fault_tolerance().rendezvous_timeout_s(), 120);
  EXPECT_FALSE(r.spec.has_checkpoint());  // optional block stays absent
  EXPECT_FALSE(r.spec.has_finetune());
  EXPECT_EQ(r.lines.at("mesh.tp"), 4);
}

TEST(LoadJob, AbsentMeshDefaultsToOneProcess) {
  LoadResult r = LoadJobText(With("mesh", "mesh: {}"), "job.yaml");
  ASSERT_TRUE(r.ok()) << FormatProblems(r.problems);
  EXPECT_EQ(r.spec.mesh().dp() * r.spec.mesh().tp() * r.spec.mesh().pp(), 1);
}

TEST(LoadJob, YamlSyntaxErrorNamesLineAndText) {
  EXPECT_THAT(Problems("name: x\nmodel: {n_layer: 4\ntrain: [\n"),
              ElementsAre(HasSubstr("job.yaml: YAML syntax error")));
  auto p = Problems("name: x\nmodel:\n  n_layer: 4\n n_head: 2\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0], HasSubstr("at line 4 (found \"n_head: 2\")"));
}

TEST(LoadJob, EmptyAndMissingFiles) {
  EXPECT_THAT(Problems(""), ElementsAre("job.yaml: job file is empty (found nothing)"));
  LoadResult r = LoadJobFile("/nonexistent/job.yaml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(FormatProblem(r.problems[0]),
            "/nonexistent/job.yaml: cannot open job file (found no readable file)");
}

TEST(LoadJob, UnknownFieldsSuggestTheClosestName) {
  EXPECT_THAT(
      Problems(With("mesh", "mesh: {dp: 2, tp: 2, pp: 2, ddp: 1}")),
      ElementsAre("mesh.ddp: unknown field (did you mean 'dp'?) at line 4 (found \"ddp\")"));
  EXPECT_THAT(Problems(std::string(kValidJob) + "optimizer: adam\n"),
              ElementsAre(HasSubstr("optimizer: unknown field; expected one of name, model")));
}

TEST(LoadJob, WrongTypesNameFieldExpectationAndValue) {
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: four, n_head: 4, d_model: 64, seq_len: 32, "
                            "vocab_size: 128}")),
              ElementsAre("model.n_layer: expected an integer at line 2 (found \"four\")"));
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: 4.5, n_head: 4, d_model: 64, seq_len: "
                            "32, vocab_size: 128}")),
              ElementsAre(HasSubstr("model.n_layer: expected an integer")));
  EXPECT_THAT(Problems(With("train", "train: {global_batch: 16, steps: 10, lr: fast}")),
              ElementsAre("train.lr: expected a number at line 6 (found \"fast\")"));
  EXPECT_THAT(Problems(With("model", "model: 5")),
              ElementsAre("model: expected a mapping of keys at line 2 (found \"5\")"));
  EXPECT_THAT(Problems(std::string(kValidJob) + "checkpoint: {store: /tmp/s, async: yes}\n"),
              ElementsAre("checkpoint.async: expected true or false at line 7 (found \"yes\")"));
  EXPECT_THAT(Problems(std::string(kValidJob) + "control: {promote: {guards: eval_loss}}\n"),
              ElementsAre(HasSubstr("control.promote.guards: expected a list")));
  EXPECT_THAT(Problems(With("model",
                            "model: {n_layer: 4, n_head: 4, d_model: 64, seq_len: 32, "
                            "vocab_size: 99999999999}")),
              ElementsAre(HasSubstr("model.vocab_size: integer out of range")));
}

TEST(LoadJob, MissingRequiredFieldsAreEachReported) {
  auto p = Problems(With("model", "model: {n_layer: 4, n_head: 4}"));
  EXPECT_THAT(p, ElementsAre("model.d_model: required field is missing at line 2 (found nothing)",
                             "model.seq_len: required field is missing at line 2 (found nothing)",
                             "model.vocab_size: required field is missing at line 2 (found "
                             "nothing)"));
  EXPECT_THAT(Problems("name: x\n"), ElementsAre(HasSubstr("model: required field is missing"),
                                                 HasSubstr("data: required field is missing"),
                                                 HasSubstr("train: required field is missing")));
}

TEST(LoadJob, ChoicesAreEnforced) {
  EXPECT_THAT(Problems(std::string(kValidJob) + "backend: infiniband\n"),
              ElementsAre("backend: unknown backend; expected one of auto, nccl, mpi, gloo at "
                          "line 7 (found \"infiniband\")"));
  EXPECT_THAT(Problems(With("parallel", "parallel: {micro_batches: 4, schedule: zigzag}")),
              ElementsAre(HasSubstr("parallel.schedule: unknown schedule; expected one of gpipe")));
}

TEST(LoadJob, DuplicateKeysAreRejected) {
  EXPECT_THAT(Problems(std::string(kValidJob) + "name: again\n"),
              ElementsAre("name: duplicate key at line 7 (found \"name\")"));
}

TEST(LoadJob, ListsAndMapsConvert) {
  LoadResult r = LoadJobText(std::string(kValidJob) +
                                 "resources:\n"
                                 "  node_selector: {agentpool: gpu}\n"
                                 "  tolerations:\n"
                                 "    - {key: sku, value: gpu, effect: NoSchedule}\n",
                             "job.yaml");
  ASSERT_TRUE(r.ok()) << FormatProblems(r.problems);
  EXPECT_EQ(r.spec.resources().node_selector().at("agentpool"), "gpu");
  ASSERT_EQ(r.spec.resources().tolerations_size(), 1);
  EXPECT_EQ(r.spec.resources().tolerations(0).operator_(), "Equal");  // default inside a list
  EXPECT_THAT(Problems(std::string(kValidJob) +
                       "resources: {tolerations: [{key: a, effect: Sometimes}]}\n"),
              ElementsAre(HasSubstr("resources.tolerations[0].effect: unknown effect")));
}

TEST(LoadJob, NumbersInStringFieldsStayStrings) {
  LoadResult r =
      LoadJobText(std::string(kValidJob) + "resources: {cpu: 2, memory: 4Gi}\n", "job.yaml");
  ASSERT_TRUE(r.ok()) << FormatProblems(r.problems);
  EXPECT_EQ(r.spec.resources().cpu(), "2");
}

TEST(LoadJob, LoadJobOrErrorListsEveryProblem) {
  auto st = LoadJobOrError("/nonexistent/job.yaml");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.status().message()), HasSubstr("cannot open job file"));
}

}  // namespace
}  // namespace mt::job
