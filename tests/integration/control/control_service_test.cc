// The control service over gRPC (control.proto) as clients see it: our ControlClient, a
// Python grpcio client, eight clients at once, bad input, the bearer token, the retrain
// trigger (with a submitter that only records what it was asked to run), metric ingestion
// and /metrics.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "control/service/client.h"
#include "control/service/server.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/core/logging.h"
#include "tests/support/http_get.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"

namespace mt::control {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "s3cret-token";

// Records the retrains it is asked to run; the test ends them with Finish().
class RecordingSubmitter final : public Submitter {
 public:
  absl::Status Submit(const RetrainInfo& r, const meshtrain::v1::JobSpec& spec,
                      const std::string& db, std::function<void(const JobOutcome&)> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs.push_back({r, spec, db, std::move(done)});
    return absl::OkStatus();
  }
  void WaitAll() override {}
  void Finish(size_t i, const JobOutcome& o) { jobs.at(i).done(o); }

  struct Job {
    RetrainInfo retrain;
    meshtrain::v1::JobSpec spec;
    std::string db;
    std::function<void(const JobOutcome&)> done;
  };
  std::vector<Job> jobs;

 private:
  std::mutex mu_;
};

class ControlServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    submitter_ = std::make_shared<RecordingSubmitter>();
    LocalControlOptions o;
    o.db = dir_ / "control.db";
    o.runs_dir = dir_ / "runs";
    o.submitter = submitter_;
    auto local = LocalControl::Open(o);
    ASSERT_TRUE(local.ok()) << local.status();
    ControlServerOptions so;
    so.token = kToken;
    so.metrics_listen = "127.0.0.1:0";
    auto server = ControlServer::Start(std::move(*local), so);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = Connect(kToken);
  }

  std::unique_ptr<ControlClient> Connect(const std::string& token) {
    ControlClientOptions o;
    o.address = server_->address();
    o.token = token;
    auto c = ControlClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(*c);
  }

  static VersionInfo Version(const std::string& model, double eval_loss,
                             const std::string& job_json = "") {
    VersionInfo v;
    v.model = model;
    v.checkpoint_uri = "file:///ck/" + model;
    v.checkpoint_version = 1;
    v.metrics = {{"eval_loss", eval_loss}};
    v.job_json = job_json;
    return v;
  }

  // A registry state to compare before and after refused changes.
  std::string Snapshot() {
    std::string out;
    const auto models = client_->Models();  // (kept: a loop over *Models() would dangle)
    for (const std::string& m : *models) {
      const auto versions = client_->Versions(m);
      for (const VersionInfo& v : *versions) {
        out += fmt::format("{} v{} [{}]\n", m, v.version, fmt::join(v.aliases, ","));
      }
    }
    return out + fmt::format("audit {}\n", client_->Audit()->size());
  }

  testing::TempDir dir_;
  std::shared_ptr<RecordingSubmitter> submitter_;
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<ControlClient> client_;
};

TEST_F(ControlServiceTest, RegistryOperationsOverGrpc) {
  auto v1 = client_->Register(Version("adder", 1.0));
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(client_->Evaluate("adder", 1, Policy{})->outcome, "promoted");
  VersionInfo child = Version("adder", 0.95);
  child.parent = 1;
  ASSERT_EQ(client_->Register(child)->version, 2);
  Policy strict;
  strict.min_improvement = 0.1;
  auto d = client_->Evaluate("adder", 2, strict);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->outcome, "candidate");
  EXPECT_THAT(d->reason, HasSubstr("needs an improvement of 0.1"));
  auto versions = client_->Versions("adder");
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].aliases, std::vector<std::string>{"production"});
  EXPECT_EQ((*versions)[1].aliases, std::vector<std::string>{"staging"});
  auto staging = client_->Resolve("adder@staging");
  EXPECT_EQ(staging->version, 2);
  EXPECT_EQ(staging->parent, 1);
  EXPECT_EQ(client_->Promote("adder", 2, "canary ok")->outcome, "promoted");
  EXPECT_EQ(client_->Rollback("adder", "regression")->version, 1);
  EXPECT_EQ(client_->Decisions("adder")->size(), 4u);
  EXPECT_TRUE(client_->VerifyAudit().ok());
}

TEST_F(ControlServiceTest, CallsWithoutTheTokenAreRefused) {
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    auto models = Connect(token)->Models();
    EXPECT_EQ(models.status().code(), absl::StatusCode::kUnauthenticated) << token;
  }
}

TEST_F(ControlServiceTest, BadInputIsAClearErrorAndChangesNothing) {
  ASSERT_TRUE(client_->Register(Version("adder", 1.0)).ok());
  ASSERT_TRUE(client_->Evaluate("adder", 1, Policy{}).ok());
  ASSERT_TRUE(client_->Register(Version("adder", 0.9)).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->Register(Version("other", 1.0)).ok());
  const std::string before = Snapshot();
  auto unknown = client_->Promote("adder", 7, "");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()),
              HasSubstr("model 'adder' has no version 7 (it has 1-2)"));
  // Version 3 exists, but of another model.
  auto foreign = client_->Promote("adder", 3, "");
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(foreign.status().message()), HasSubstr("has no version 3"));
  Policy bleu;
  bleu.metric = "bleu";
  auto metric = client_->Evaluate("adder", 2, bleu);
  EXPECT_EQ(metric.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(metric.status().message()), HasSubstr("bleu"));
  EXPECT_EQ(client_->Rollback("adder", "").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->AppendAudit("data read", "{not json").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Jobs report reads and commits; every other kind is the service's own to write.
  auto forged = client_->AppendAudit("promoted", R"({"model": "adder", "version": 2})");
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(forged.status().message()), HasSubstr("kind 'promoted'"));
  auto nobody = client_->ReportProductionMetric({"nobody", "acc", 0.1, "", "test"});
  EXPECT_EQ(nobody.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_TRUE(client_->VerifyAudit().ok());
}

// Eight clients, each on its own connection, register and gate ten versions each and promote
// some by hand, all at once: every version number is handed out exactly once, the aliases
// point at versions that exist, and the audit chain holds.
TEST_F(ControlServiceTest, EightClientsAtOnceLeaveAConsistentRegistry) {
  constexpr int kClients = 8, kEach = 10;
  std::vector<std::vector<int64_t>> got(kClients);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = Connect(kToken);
      for (int i = 0; i < kEach; ++i) {
        auto v = client->Register(Version("shared", 1.0 - 0.01 * (c * kEach + i)));
        if (!v.ok() || !client->Evaluate("shared", v->version, Policy{}).ok()) {
          ++failures;
          continue;
        }
        if (i % 3 == 0 && !client->Promote("shared", v->version, "by hand").ok()) ++failures;
        got[c].push_back(v->version);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kClients * kEach));  // none lost or duplicated
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kClients * kEach);
  auto versions = client_->Versions("shared");
  ASSERT_EQ(versions->size(), static_cast<size_t>(kClients * kEach));
  int production = 0;
  for (const VersionInfo& v : *versions) {
    for (const std::string& a : v.aliases) production += a == "production";
  }
  EXPECT_EQ(production, 1);
  auto prod = client_->Resolve("shared@production");
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_TRUE(all.count(prod->version));
  EXPECT_TRUE(client_->VerifyAudit().ok());
}

// The data A / data B pair of the retrain tests: two datasets from `meshtrain data prepare`.
std::string PrepareDataset(const std::string& dir, int seed) {
  const std::string out = fmt::format("{}/data{}", dir, seed);
  const std::string cmd = fmt::format(
      "{}/bin/meshtrain data prepare --digits 2 --sample-len 13 --train-samples 64 "
      "--eval-samples 16 --seed {} --out {} > /dev/null 2>&1",
      MT_BINARY_DIR, seed, out);
  return std::system(cmd.c_str()) == 0 ? "file://" + out : "";
}

std::string RetrainingJob(const std::string& data_uri, bool on_new_data) {
  meshtrain::v1::JobSpec job;
  job.set_name("adder-job");
  job.mutable_data()->set_uri(data_uri);
  auto* retrain = job.mutable_control()->mutable_retrain();
  retrain->set_metric("prod_accuracy");
  retrain->set_below(0.9);
  retrain->set_on_new_data(on_new_data);
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(job, &json).ok());
  return json;
}

TEST_F(ControlServiceTest, ProductionMetricBelowThresholdSubmitsOneFineTune) {
  const std::string a = PrepareDataset(dir_.path(), 1), b = PrepareDataset(dir_.path(), 2);
  ASSERT_FALSE(a.empty() || b.empty());
  ASSERT_TRUE(client_->Register(Version("adder", 1.0, RetrainingJob(a, false))).ok());
  ASSERT_TRUE(client_->Evaluate("adder", 1, Policy{}).ok());
  auto fine = client_->ReportProductionMetric({"adder", "prod_accuracy", 0.95, "", "monitor"});
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_FALSE(fine->crossed);
  EXPECT_TRUE(submitter_->jobs.empty());
  // New data registered: recorded, no retrain (on_new_data is off) ...
  auto added = client_->RegisterDataset("adder", b);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->first.fingerprint, HasSubstr(b + "#xxh64:"));
  EXPECT_FALSE(added->second.submitted);
  // ... and what a retrain trains on once the metric drops.
  auto low = client_->ReportProductionMetric({"adder", "prod_accuracy", 0.5, "", "monitor"});
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_TRUE(low->crossed);
  ASSERT_TRUE(low->submitted) << low->reason;
  ASSERT_EQ(submitter_->jobs.size(), 1u);
  const auto& job = submitter_->jobs[0];
  EXPECT_EQ(job.spec.finetune().base(), "adder@1");
  EXPECT_EQ(job.spec.data().uri(), b);
  EXPECT_EQ(job.db, dir_ / "control.db");
  EXPECT_EQ(job.retrain.run_dir, dir_ / "runs/adder-retrain-1");
  auto again = client_->ReportProductionMetric({"adder", "prod_accuracy", 0.4, "", "monitor"});
  EXPECT_TRUE(again->crossed);
  EXPECT_FALSE(again->submitted);
  EXPECT_THAT(again->reason, HasSubstr("retrain 1 of adder is still running"));
  // The fine-tune registers its version (a child of v1); a submitter that cannot read the
  // run's summary (Kubernetes) reports no version: the service finds it by its parent.
  VersionInfo child = Version("adder", 0.8);
  child.parent = 1;
  ASSERT_EQ(client_->Register(child)->version, 2);
  submitter_->Finish(0, JobOutcome{true, 0, std::nullopt});
  auto retrains = client_->Retrains("adder");
  ASSERT_EQ(retrains->size(), 1u);
  EXPECT_EQ((*retrains)[0].state, "succeeded");
  EXPECT_EQ((*retrains)[0].result_version, 2);
  auto done = client_->ReportProductionMetric({"adder", "prod_accuracy", 0.4, "", "monitor"});
  EXPECT_FALSE(done->submitted);
  EXPECT_THAT(done->reason, HasSubstr("v1 was already retrained on " + b));
  std::vector<std::string> kinds;
  const auto audit = client_->Audit();
  for (const AuditRecord& r : *audit) kinds.push_back(r.kind);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "threshold crossed"), 3);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "retrain submitted"), 1);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "retrain finished"), 1);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "dataset registered"), 1);
  EXPECT_TRUE(client_->VerifyAudit().ok());
}

TEST_F(ControlServiceTest, NewDataRetrainsWhenTheJobSaysSo) {
  const std::string a = PrepareDataset(dir_.path(), 1), b = PrepareDataset(dir_.path(), 2);
  ASSERT_FALSE(a.empty() || b.empty());
  ASSERT_TRUE(client_->Register(Version("adder", 1.0, RetrainingJob(a, true))).ok());
  ASSERT_TRUE(client_->Evaluate("adder", 1, Policy{}).ok());
  auto added = client_->RegisterDataset("adder", b);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(added->second.submitted) << added->second.reason;
  ASSERT_EQ(submitter_->jobs.size(), 1u);
  EXPECT_EQ(submitter_->jobs[0].spec.data().uri(), b);
  auto missing = client_->RegisterDataset("adder", "file://" + dir_ / "nothing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir_ / "nothing"));
  submitter_->Finish(0, JobOutcome{false, 1, std::nullopt});
  EXPECT_EQ((*client_->Retrains("adder"))[0].state, "failed");
}

TEST_F(ControlServiceTest, ReportedMetricsReachTheSinksAndPrometheus) {
  ASSERT_TRUE(client_->Register(Version("adder", 1.0)).ok());
  auto n = client_->ReportMetrics("job-1", "adder",
                                  {{1, "loss", 2.5}, {1, "lr", 0.01}, {2, "loss", 2.25}});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
  std::ifstream jsonl(dir_ / "runs/metrics/job-1.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(jsonl, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["step"], 1);
  EXPECT_EQ(lines[0]["lr"], 0.01);
  EXPECT_EQ(lines[1]["loss"], 2.25);
  EXPECT_FALSE(std::filesystem::is_empty(dir_ / "runs/tb/job-1"));
  const std::string reply = testing::HttpGet(server_->metrics_address(), "/metrics");
  const std::string body = reply.substr(reply.find("\r\n\r\n") + 4);
  EXPECT_THAT(body, HasSubstr("meshtrain_train_metric{job=\"job-1\",model=\"adder\",name=\"loss\"} "
                              "2.25"));
  EXPECT_THAT(body, HasSubstr("meshtrain_registry_versions{model=\"adder\"} 1"));
  const auto [rc, lint] = testing::Promtool(body);
  EXPECT_EQ(rc, 0) << lint << "\n" << body;
}

// A client that is not ours: Python grpcio with stubs protoc generates from control.proto.
TEST_F(ControlServiceTest, PythonGrpcioClient) {
  ASSERT_TRUE(client_->Register(Version("adder", 1.0)).ok());
  ASSERT_TRUE(client_->Evaluate("adder", 1, Policy{}).ok());
  const std::string stubs = dir_ / "stubs";
  std::filesystem::create_directories(stubs);
  const std::string proto = std::string(MT_SOURCE_DIR) + "/proto";
  const std::string gen = fmt::format(
      "protoc --proto_path={0} --python_out={1} --grpc_python_out={1} "
      "--plugin=protoc-gen-grpc_python=$(command -v grpc_python_plugin) "
      "{0}/meshtrain/v1/control.proto 2>&1",
      proto, stubs);
  ASSERT_EQ(std::system(gen.c_str()), 0) << gen;
  // Debian's python3 (python3-grpcio), whatever python3 comes first on PATH.
  const std::string cmd =
      fmt::format("/usr/bin/python3 {}/tests/support/control_client.py {} {} {} adder",
                  MT_SOURCE_DIR, stubs, server_->address(), kToken);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  ASSERT_EQ(pclose(p), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["without_token"], "UNAUTHENTICATED");
  EXPECT_EQ(j["models"], nlohmann::json::array({"adder"}));
  EXPECT_EQ(j["versions"][0]["aliases"], nlohmann::json::array({"production"}));
  EXPECT_EQ(j["production"], 1);
  EXPECT_EQ(j["registered"], 2);
  EXPECT_EQ(j["decision"], "promoted");  // 0.5 beats 1.0 by more than 0.1
  EXPECT_EQ(j["promote_unknown"], "NOT_FOUND");
  EXPECT_THAT(j["promote_unknown_detail"].get<std::string>(), HasSubstr("has no version 99"));
  EXPECT_EQ(j["accepted"], 3);
  EXPECT_EQ(j["audit_ok"], true);
  EXPECT_EQ(client_->Resolve("adder@production")->version, 2);
  EXPECT_EQ(client_->Resolve("adder@2")->parent, 1);
}

// A retrain whose control service died (kill -9, a crash) never gets its end recorded; the
// next service on the host marks it failed, so the model can be retrained again.
TEST(ControlServiceRestart, RetrainsOfAGoneServiceAreMarkedFailed) {
  testing::TempDir dir;
  const pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  {
    auto registry = Registry::Open(dir / "control.db");
    ASSERT_TRUE(registry.ok());
    VersionInfo v;
    v.model = "adder";
    ASSERT_TRUE((*registry)->Register(v).ok());
    RetrainInfo r;
    r.model = "adder";
    r.base_version = 1;
    r.owner = fmt::format("{}:{}", log::HostName(), gone);
    ASSERT_TRUE((*registry)->AddRetrain(r, dir / "runs").ok());
    r.model = "adder";
    EXPECT_EQ((*registry)->AddRetrain(r, dir / "runs").status().code(),
              absl::StatusCode::kFailedPrecondition);  // one at a time
  }
  LocalControlOptions o;
  o.db = dir / "control.db";
  auto local = LocalControl::Open(o);
  ASSERT_TRUE(local.ok()) << local.status();
  auto retrains = (*local)->Retrains("adder");
  ASSERT_EQ(retrains->size(), 1u);
  EXPECT_EQ((*retrains)[0].state, "failed");
  EXPECT_TRUE((*local)->VerifyAudit().ok());
}

// The coordinator's transport security on the control service: with a client CA, a client
// needs its certificate (mTLS); plaintext is refused; the certified client is served.
TEST(ControlServiceTls, MutualTlsRequiresAClientCertificate) {
  const testing::Pki pki = testing::MakePki();
  if (!pki.ok) GTEST_SKIP() << "openssl could not make test certificates";
  testing::TempDir dir;
  LocalControlOptions o;
  o.db = dir / "control.db";
  auto local = LocalControl::Open(o);
  ASSERT_TRUE(local.ok());
  ControlServerOptions so;
  so.tls = {pki.dir + "/server.pem", pki.dir + "/server.key", pki.dir + "/ca.pem"};
  auto server = ControlServer::Start(std::move(*local), so);
  ASSERT_TRUE(server.ok()) << server.status();
  ControlClientOptions co;
  co.address = (*server)->address();
  co.timeout_s = 5;
  co.tls.ca = pki.dir + "/ca.pem";
  EXPECT_FALSE((*ControlClient::Connect(co))->Models().ok());  // no client certificate
  ControlClientOptions plain;
  plain.address = co.address;
  plain.timeout_s = 2;
  EXPECT_FALSE((*ControlClient::Connect(plain))->Models().ok());
  co.tls.cert = pki.dir + "/client.pem";
  co.tls.key = pki.dir + "/client.key";
  auto models = (*ControlClient::Connect(co))->Models();
  EXPECT_TRUE(models.ok()) << models.status();
  std::filesystem::remove_all(pki.dir);
}

}  // namespace
}  // namespace mt::control
