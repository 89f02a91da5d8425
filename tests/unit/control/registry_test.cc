// The model registry and its audit log (control/registry): versions numbered per model, the
// promotion gate's both outcomes, rollback, bad input leaving the registry unchanged, eight
// writers at once, and an edited or truncated audit log named by VerifyAudit.
#include "control/registry/registry.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "checkpoint/store/committer.h"
#include "gmock/gmock.h"

namespace mt::control {
namespace {

using ::testing::HasSubstr;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meshtrain-registry-XXXXXX";
    dir_ = mkdtemp(tmpl);
    db_ = dir_ + "/control.db";
    registry_ = *Registry::Open(db_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  VersionInfo Add(const std::string& model, double eval_loss, double accuracy = 0.5,
                  std::optional<int64_t> parent = {}) {
    VersionInfo v;
    v.model = model;
    v.checkpoint_uri = "file:///ck/" + model;
    v.checkpoint_version = 3;
    v.metrics = {{"eval_loss", eval_loss}, {"eval_accuracy", accuracy}};
    v.parent = parent;
    v.data_fingerprint = "file:///data#xxh64:0123";
    v.job_hash = "job-1";
    auto r = registry_->Register(v);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v;
  }

  std::string dir_, db_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, VersionsAreNumberedPerModelAndKeepWhatWasRegistered) {
  EXPECT_EQ(Add("a", 1.0).version, 1);
  EXPECT_EQ(Add("a", 0.9, 0.5, 1).version, 2);
  EXPECT_EQ(Add("b", 2.0).version, 1);
  auto v = registry_->Get("a", 2);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->parent, 1);
  EXPECT_EQ(v->checkpoint_uri, "file:///ck/a");
  EXPECT_EQ(v->checkpoint_version, 3);
  EXPECT_DOUBLE_EQ(v->metrics.at("eval_loss"), 0.9);
  EXPECT_EQ(*registry_->Models(), (std::vector<std::string>{"a", "b"}));
  VersionInfo child;
  child.model = "a";
  child.parent = 7;
  auto orphan = registry_->Register(child);
  EXPECT_EQ(orphan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(orphan.status().message()), HasSubstr("model 'a' has no version 7"));
}

TEST_F(RegistryTest, GatePromotesOnlyByTheMarginAndRollbackGoesBack) {
  Policy policy;  // eval_loss, min, improvement >= 0.05, accuracy must not drop
  policy.min_improvement = 0.05;
  policy.guards = {};
  Add("m", 1.00);
  auto first = registry_->Evaluate("m", 1, policy);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->outcome, "promoted");
  EXPECT_THAT(first->reason, HasSubstr("first version"));
  Add("m", 0.97);  // better by 0.03 only
  auto small = registry_->Evaluate("m", 2, policy);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->outcome, "candidate");
  EXPECT_THAT(small->reason, HasSubstr("eval_loss 0.97 vs production v1's 1: better by 0.03"));
  EXPECT_EQ(**registry_->Alias("m", "production"), 1);
  EXPECT_EQ(**registry_->Alias("m", "staging"), 2);
  Add("m", 0.90);
  auto big = registry_->Evaluate("m", 3, policy);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->outcome, "promoted");
  EXPECT_EQ(**registry_->Alias("m", "production"), 3);
  EXPECT_EQ(registry_->Resolve("m")->version, 3);
  EXPECT_EQ(registry_->Resolve("m@staging")->version, 2);
  auto back = registry_->Rollback("m", "bad in serving");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 1);
  EXPECT_EQ(**registry_->Alias("m", "production"), 1);
  EXPECT_EQ(registry_->Rollback("m", "").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry_->Decisions("m")->size(), 4u);  // promoted, candidate, promoted, rolled back
  EXPECT_TRUE(registry_->VerifyAudit().ok());
}

TEST_F(RegistryTest, GuardMetricThatGetsWorseKeepsTheCandidate) {
  Policy policy;
  policy.metric = "eval_loss";
  policy.guards = {"eval_accuracy"};
  policy.mode = "min";
  Add("g", 1.0, 0.80);
  ASSERT_TRUE(registry_->Evaluate("g", 1, policy).ok());
  Add("g", 0.5, 0.70);  // lower loss, lower accuracy (higher is better for accuracy)
  auto d = registry_->Evaluate("g", 2, policy);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->outcome, "candidate");
  EXPECT_THAT(d->reason, HasSubstr("guard eval_accuracy got worse (0.7 vs 0.8)"));
  Add("g", 0.4, 0.90);
  EXPECT_EQ(registry_->Evaluate("g", 3, policy)->outcome, "promoted");
}

TEST_F(RegistryTest, BadRequestsAreClearErrorsAndChangeNothing) {
  Add("a", 1.0);
  Add("b", 1.0);
  for (int i = 0; i < 4; ++i) Add("b", 1.0);  // b has versions 1-5
  ASSERT_TRUE(registry_->Evaluate("a", 1, Policy{}).ok());
  const size_t audit_before = registry_->Audit()->size();
  // A version that exists only under another model.
  auto other = registry_->Promote("a", 5, "");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(other.status().message()),
              HasSubstr("model 'a' has no version 5 (it has 1-1)"));
  EXPECT_EQ(registry_->Evaluate("nope", 1, Policy{}).status().code(), absl::StatusCode::kNotFound);
  Policy unknown;
  unknown.metric = "bleu";
  auto metric = registry_->Evaluate("b", 2, unknown);
  EXPECT_EQ(metric.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(metric.status().message()),
              HasSubstr("metric 'bleu' is not among candidate version 2's metrics "
                        "(eval_accuracy, eval_loss)"));
  EXPECT_FALSE(registry_->Resolve("a@7").ok());
  EXPECT_EQ(registry_->Resolve("a@latest").status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing changed.
  EXPECT_EQ(registry_->Audit()->size(), audit_before);
  EXPECT_EQ(**registry_->Alias("a", "production"), 1);
  EXPECT_FALSE(*registry_->Alias("b", "production"));
  EXPECT_TRUE(registry_->Decisions("b")->empty());
}

TEST_F(RegistryTest, EightWritersAtOnceLeaveAConsistentRegistry) {
  constexpr int kThreads = 8, kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = Registry::Open(db_);  // a connection per thread, as per process
      ASSERT_TRUE(r.ok()) << r.status();
      for (int i = 0; i < kEach; ++i) {
        VersionInfo v;
        v.model = "shared";
        v.metrics = {{"eval_loss", 1.0 - 0.001 * (t * kEach + i)}};
        auto added = (*r)->Register(v);
        ASSERT_TRUE(added.ok()) << added.status();
        auto d = i % 3 == 0 ? (*r)->Promote("shared", added->version, "")
                            : (*r)->Evaluate("shared", added->version, Policy{});
        ASSERT_TRUE(d.ok()) << d.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  auto versions = registry_->Versions("shared");
  ASSERT_TRUE(versions.ok());
  std::set<int64_t> numbers;
  for (const auto& v : *versions) numbers.insert(v.version);
  EXPECT_EQ(numbers.size(), static_cast<size_t>(kThreads * kEach));  // none lost or duplicated
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), kThreads * kEach);
  auto prod = registry_->Alias("shared", "production");
  ASSERT_TRUE(prod.ok() && prod->has_value());
  EXPECT_TRUE(registry_->Get("shared", **prod).ok());  // the alias points at a real version
  EXPECT_EQ(registry_->Decisions("shared")->size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(registry_->Audit()->size(), static_cast<size_t>(2 * kThreads * kEach));
  EXPECT_TRUE(registry_->VerifyAudit().ok()) << registry_->VerifyAudit();
}

TEST_F(RegistryTest, AuditVerifyNamesAnEditedRecordAndATruncatedLog) {
  Add("a", 1.0);
  ASSERT_TRUE(registry_->Evaluate("a", 1, Policy{}).ok());
  Add("a", 0.5);
  ASSERT_TRUE(registry_->Evaluate("a", 2, Policy{}).ok());
  ASSERT_TRUE(registry_->VerifyAudit().ok());
  {
    auto db = *Db::Open(db_);
    ASSERT_TRUE(db->Exec("UPDATE audit SET body = replace(body, '0.5', '0.4') WHERE id = 3").ok());
  }
  absl::Status edited = registry_->VerifyAudit();
  EXPECT_EQ(edited.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(edited.message()), HasSubstr("audit record 3 (version registered"));
  EXPECT_THAT(std::string(edited.message()), HasSubstr("was edited"));
  {
    auto db = *Db::Open(db_);
    ASSERT_TRUE(db->Exec("UPDATE audit SET body = replace(body, '0.4', '0.5') WHERE id = 3").ok());
    ASSERT_TRUE(db->Exec("DELETE FROM audit WHERE id = 4").ok());  // the tail: chain still links
  }
  absl::Status truncated = registry_->VerifyAudit();
  EXPECT_EQ(truncated.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(truncated.message()),
              HasSubstr("refers to audit record 4, which is missing"));
}

// Retention keeps the newest keep_last checkpoint versions plus those a registered model
// version points at.
TEST_F(RegistryTest, RetentionKeepsTheCheckpointsTheRegistryReferences) {
  auto store = ckpt::CheckpointStore::Open("file://" + dir_ + "/ck");
  ASSERT_TRUE(store.ok()) << store.status();
  VersionInfo v;
  v.model = "kept";
  v.checkpoint_uri = (*store)->uri();
  v.checkpoint_version = 2;
  ASSERT_TRUE(registry_->Register(v).ok());
  ckpt::Committer committer(*store, 1, /*keep_last=*/2,
                            ReferencedCheckpoints(db_, (*store)->uri()));
  for (int64_t version = 1; version <= 5; ++version) {
    ckpt::Shard shard;
    shard.header.step = version * 10;
    auto file = (*store)->PutShard(version, 0, shard);
    ASSERT_TRUE(file.ok()) << file.status();
    ckpt::Manifest m;
    m.version = version;
    m.step = version * 10;
    auto done = committer.Report(m, *file);
    ASSERT_TRUE(done.ok() && *done) << done.status();
  }
  EXPECT_EQ(*(*store)->Committed(), (std::vector<int64_t>{2, 4, 5}));
}

}  // namespace
}  // namespace mt::control
