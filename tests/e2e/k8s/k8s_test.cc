// Kubernetes without a cluster: the rendered manifests validate against the official schemas
// (offline, npm kubernetes-models) and our own rules; the kustomize overlays render and
// validate too; the rendered pods *run* — the control service, the coordinator and every
// worker index started as local processes with exactly the command, args and environment the
// manifests give them — so a wrong flag or variable in a manifest fails here; the exit-code
// contract the pod failure policy relies on; the kubectl wrappers' calls.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launcher/k8s/retrain_submitter.h"
#include "nlohmann/json.hpp"
#include "runtime/job/load.h"
#include "tests/e2e/cli/cli_support.h"
#include "tests/support/test_pki.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace mt::testing;  // NOLINT: the helpers of cli_support.h
using ::testing::HasSubstr;

const std::string kSource = MT_SOURCE_DIR;

Result Validate(const std::string& file) {
  return Shell("node " + kSource + "/tests/support/validate_k8s.mjs " + file);
}

bool NpmToolsPresent() {
  return fs::exists(kSource + "/.cache/npm/node_modules/kubernetes-models") &&
         fs::exists(kSource + "/.cache/npm/node_modules/js-yaml");
}

TEST(K8sRender, ManifestsOfTheExamplesValidate) {
  ASSERT_TRUE(NpmToolsPresent()) << "run scripts/npm-tools.sh (scripts/test.sh does)";
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  for (const char* example : {"quickstart.yaml", "gpu-3d.yaml"}) {
    for (const char* format : {"yaml", "json"}) {
      const std::string out = fmt::format("{}/{}.{}", dir, example, format);
      Result r = Meshtrain(
          fmt::format("k8s render {}/examples/{} -o {} > {}", kSource, example, format, out));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      Result v = Validate(out);
      EXPECT_EQ(v.exit_code, 0) << example << " " << format << "\n" << v.output;
      EXPECT_THAT(v.output, HasSubstr("ok: 13 objects"));
    }
  }
  // The GPU job: 16 ranks in 2 pods of 8, each asking for 8 GPUs on the GPU pool.
  const json list = json::parse(ReadFile(dir + "/gpu-3d.yaml.json"));
  const json* job = nullptr;
  for (const json& o : list["items"]) {
    if (o["kind"] == "Job") job = &o;
  }
  ASSERT_NE(job, nullptr);
  EXPECT_EQ((*job)["spec"]["completions"], 2);
  const json& pod = (*job)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], "8");
  EXPECT_EQ(pod["nodeSelector"]["agentpool"], "gpu");
  EXPECT_THAT(pod["containers"][0]["args"].dump(), HasSubstr("\"--ranks-per-pod\",\"8\""));
  EXPECT_THAT(pod["containers"][0]["env"].dump(), HasSubstr("NCCL_SOCKET_IFNAME"));
  EXPECT_EQ(pod["containers"][0]["envFrom"][0]["secretRef"]["name"], "meshtraindata-sas");
  // The exit-code contract: 2 fails the job, 3 (a world restart) is ignored, 4 (coordinator
  // lost) falls through to the default: counted, retried up to backoffLimitPerIndex.
  const std::string rules = (*job)["spec"]["podFailurePolicy"]["rules"].dump();
  EXPECT_THAT(
      rules,
      HasSubstr(
          R"({"action":"FailJob","onExitCodes":{"containerName":"worker","operator":"In","values":[2]}})"));
  EXPECT_THAT(
      rules,
      HasSubstr(
          R"({"action":"Ignore","onExitCodes":{"containerName":"worker","operator":"In","values":[3]}})"));
  EXPECT_EQ(rules.find("[4]"), std::string::npos);
  EXPECT_EQ((*job)["spec"]["backoffLimitPerIndex"], 4);  // max_restarts 3 + 1
  fs::remove_all(dir);
}

TEST(K8sRender, CatchesWhatTheSchemasMiss) {
  ASSERT_TRUE(NpmToolsPresent());
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_EQ(Meshtrain("k8s render " + kSource + "/examples/quickstart.yaml > " + dir + "/q.yaml")
                .exit_code,
            0);
  std::string text = ReadFile(dir + "/q.yaml");
  auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("      restartPolicy: \"Never\"",
          "      restartPolicy: \"OnFailure\"\n      hostPID: false\n      bogus: 1");
  replace("            readOnlyRootFilesystem: true", "            readOnlyRootFilesystem: false");
  std::ofstream(dir + "/bad.yaml") << text;
  Result v = Validate(dir + "/bad.yaml");
  EXPECT_EQ(v.exit_code, 1) << v.output;
  EXPECT_THAT(v.output, HasSubstr("unknown field /spec/template/spec/bogus"));
  EXPECT_THAT(v.output, HasSubstr("restartPolicy must be Never"));
  EXPECT_THAT(v.output, HasSubstr("readOnlyRootFilesystem must be true"));
  fs::remove_all(dir);
}

TEST(K8sRender, KustomizeOverlaysRenderAndValidate) {
  ASSERT_TRUE(NpmToolsPresent());
  if (Shell("command -v kubectl").exit_code != 0) GTEST_SKIP() << "kubectl is not installed";
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  // The base is the render of examples/k8s/job.yaml, committed; it must still be.
  Result base = Meshtrain("k8s render " + kSource + "/examples/k8s/job.yaml");
  ASSERT_EQ(base.exit_code, 0) << base.output;
  EXPECT_EQ(base.output, ReadFile(kSource + "/k8s/base/meshtrain.yaml"))
      << "k8s/base is stale: run scripts/gen-docs.sh";
  for (const char* overlay : {"cpu-dev", "gpu"}) {
    const std::string out = fmt::format("{}/{}.yaml", dir, overlay);
    Result k =
        Shell(fmt::format("kubectl kustomize {}/k8s/overlays/{} > {}", kSource, overlay, out));
    ASSERT_EQ(k.exit_code, 0) << overlay << "\n" << k.output;
    Result v = Validate(out);
    EXPECT_EQ(v.exit_code, 0) << overlay << "\n" << v.output;
  }
  EXPECT_THAT(ReadFile(dir + "/gpu.yaml"), HasSubstr("nvidia.com/gpu"));
  fs::remove_all(dir);
}

TEST(K8sRender, RefusesJobsThatCannotRunAsPods) {
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string base =
      "name: k8s-bad\nmodel: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, vocab_size: "
      "256}\ndata: {uri: file:///tmp/x}\ntrain: {global_batch: 24, steps: 2, lr: 1e-2}\n";
  std::ofstream(dir + "/pods.yaml") << base << "mesh: {dp: 6}\nresources: {ranks_per_pod: 4}\n";
  Result pods = Meshtrain("k8s render " + dir + "/pods.yaml");
  EXPECT_EQ(pods.exit_code, 2) << pods.output;
  EXPECT_THAT(pods.output, HasSubstr("resources.ranks_per_pod: must divide the world size 6"));
  std::ofstream(dir + "/gpu.yaml") << base << "mesh: {dp: 2}\nresources: {gpus_per_pod: 1}\n";
  Result gpu = Meshtrain("k8s render " + dir + "/gpu.yaml");
  EXPECT_EQ(gpu.exit_code, 2) << gpu.output;
  EXPECT_THAT(gpu.output, HasSubstr("resources.gpus_per_pod: GPUs requested for a job on the CPU"));
  fs::remove_all(dir);
}

// ---- the rendered pods, run as local processes ----

struct Pod {
  std::string name;
  json container;
  json volumes;
};

// A pod's files on this machine: each volume's mountPath maps to a directory of the test;
// Service DNS names map to 127.0.0.1.
class LocalPods {
 public:
  LocalPods(std::string dir, std::string job, const json& list, std::string pki)
      : dir_(std::move(dir)), job_(job), pki_(std::move(pki)) {
    for (const json& o : list["items"]) {
      if (o["kind"] == "ConfigMap") configmaps_[o["metadata"]["name"]] = o["data"];
      if (o["kind"] == "Deployment" || o["kind"] == "Job") {
        const json& spec = o["spec"]["template"]["spec"];
        pods_[o["metadata"]["name"]] = {o["metadata"]["name"], spec["containers"][0],
                                        spec["volumes"]};
      }
      if (o["kind"] == "Job") completions_ = o["spec"]["completions"];
    }
  }
  const Pod& pod(const std::string& name) const { return pods_.at(name); }
  int completions() const { return completions_; }

  // Starts the pod's container (index: the Indexed Job's JOB_COMPLETION_INDEX, or -1).
  pid_t Start(const Pod& pod, int index) {
    const std::string root = fmt::format("{}/{}-{}", dir_, pod.name, index);
    std::map<std::string, std::string> mounts;  // mountPath -> local directory
    for (const json& m : pod.container["volumeMounts"]) {
      // A ConfigMap or Secret reads the same in every pod (so does the job file, and with it
      // the job id); an emptyDir is the pod's own.
      std::string local = root + m["mountPath"].get<std::string>();
      for (const json& v : pod.volumes) {
        if (v["name"] == m["name"] && (v.contains("configMap") || v.contains("secret"))) {
          local = dir_ + "/volumes/" + v["name"].get<std::string>();
        }
      }
      fs::create_directories(local);
      mounts[m["mountPath"]] = local;
      for (const json& v : pod.volumes) {
        if (v["name"] != m["name"]) continue;
        if (v.contains("configMap")) {
          for (const auto& [file, text] : configmaps_.at(v["configMap"]["name"]).items()) {
            files_.push_back({local + "/" + file, text.get<std::string>()});
          }
        }
        if (v.contains("secret") && v["secret"].contains("items")) {  // the token
          files_.push_back({local + "/token", "k8s-e2e-secret\n"});
        } else if (v.contains("secret")) {  // tls.crt, tls.key, ca.crt from the test PKI
          for (const auto& [file, from] :
               {std::pair<std::string, std::string>{"tls.crt", "server.pem"},
                {"tls.key", "server.key"},
                {"ca.crt", "ca.pem"}}) {
            files_.push_back({local + "/" + file, ReadFile(pki_ + "/" + from)});
          }
        }
        if (v.contains("persistentVolumeClaim")) {
          fs::create_directories(dir_ + "/pvc");
          fs::remove(local);
          fs::create_directory_symlink(dir_ + "/pvc", local);
        }
      }
    }
    // One left-to-right pass (replaced text is never scanned again): a mountPath that starts
    // a word (after a space, a quote or '=') becomes its local directory; the Services' DNS
    // names become 127.0.0.1.
    std::vector<std::pair<std::string, std::string>> rewrites(mounts.begin(), mounts.end());
    for (const char* svc : {"-coordinator:", "-control:"}) {
      rewrites.push_back({job_ + svc, std::string("127.0.0.1:")});
    }
    std::sort(rewrites.begin(), rewrites.end(),
              [](const auto& x, const auto& y) { return x.first.size() > y.first.size(); });
    auto localize = [&](const std::string& s) {
      std::string out;
      for (size_t i = 0; i < s.size();) {
        const bool word = i == 0 || std::string(" =\"'").find(s[i - 1]) != std::string::npos;
        bool done = false;
        for (const auto& [from, to] : rewrites) {
          if (!word || s.compare(i, from.size(), from) != 0) continue;
          const size_t end = i + from.size();
          if (from.back() != ':' && end < s.size() && s[end] != '/' && s[end] != '"' &&
              s[end] != '\n' && s[end] != ' ') {
            continue;  // /tmpfoo is not under /tmp
          }
          out += to;
          i = end;
          done = true;
          break;
        }
        if (!done) out += s[i++];
      }
      return out;
    };
    for (const auto& [path, text] : files_) std::ofstream(path) << localize(text);
    std::vector<std::string> argv = {kBinary};
    EXPECT_EQ(pod.container["command"], json::array({"meshtrain"}));
    for (const json& a : pod.container["args"]) argv.push_back(localize(a));
    std::vector<std::string> env = {"PATH=/usr/bin:/bin", "OMP_NUM_THREADS=1",
                                    "OPENBLAS_NUM_THREADS=1"};
    for (const json& e : pod.container["env"]) {
      std::string value;
      if (e.contains("value")) {
        value = localize(e["value"]);
      } else {  // the downward API: the pod's IP is this machine's loopback here
        EXPECT_EQ(e["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP") << e.dump();
        value = "127.0.0.1";
      }
      env.push_back(e["name"].get<std::string>() + "=" + value);
    }
    if (index >= 0) env.push_back(fmt::format("JOB_COMPLETION_INDEX={}", index));
    const std::string log = root + ".log";
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> a, e;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      for (auto& s : env) e.push_back(s.data());
      e.push_back(nullptr);
      FILE* out = std::fopen(log.c_str(), "w");
      if (out) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
      }
      execve(a[0], a.data(), e.data());
      _exit(127);
    }
    logs_[pid] = log;
    return pid;
  }
  std::string Log(pid_t pid) const { return ReadFile(logs_.at(pid)); }

 private:
  std::string dir_, job_, pki_;
  std::map<std::string, json> configmaps_;
  std::map<std::string, Pod> pods_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::map<pid_t, std::string> logs_;
  int completions_ = 0;
};

bool Listening(int port) {
  return Shell(fmt::format("exec 3<>/dev/tcp/127.0.0.1/{} 2>/dev/null", port)).exit_code == 0;
}

int WaitExit(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// One rank per pod (two worker pods) and two ranks in one pod (`--ranks-per-pod 2`).
void RunRenderedPods(int ranks_per_pod) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  std::ofstream(dir + "/job.yaml")
      << "name: k8s-e2e\nmodel: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, vocab_size: "
         "256}\ndata: {uri: file://"
      << dir
      << "/data}\nmesh: {dp: 2, tp: 1, pp: 1}\ntrain: {global_batch: 16, steps: 6, lr: 1e-2, "
         "log_every: 2}\neval: {every: 0, batches: 1}\ncontrol: {model: adder}\n"
         "fault_tolerance: {heartbeat_s: 0.5, rendezvous_timeout_s: 60}\n"
         "resources: {token_secret: k8s-e2e-token, tls_secret: k8s-e2e-tls, ranks_per_pod: "
      << ranks_per_pod << "}\n";
  const Pki pki = MakePki();  // the Secret's tls.crt / tls.key / ca.crt
  ASSERT_TRUE(pki.ok) << "openssl could not make test certificates";
  Result render = Meshtrain("k8s render " + dir + "/job.yaml -o json > " + dir + "/list.json");
  ASSERT_EQ(render.exit_code, 0) << render.output;
  LocalPods pods(dir + "/pods", "k8s-e2e", json::parse(ReadFile(dir + "/list.json")), pki.dir);
  const pid_t control = pods.Start(pods.pod("k8s-e2e-control"), -1);
  const pid_t coordinator = pods.Start(pods.pod("k8s-e2e-coordinator"), -1);
  for (int i = 0; i < 100 && !(Listening(29400) && Listening(29500)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(pods.completions(), 2 / ranks_per_pod);
  std::vector<pid_t> workers;
  for (int i = 0; i < pods.completions(); ++i) {
    workers.push_back(pods.Start(pods.pod("k8s-e2e-workers"), i));
  }
  for (pid_t w : workers) EXPECT_EQ(WaitExit(w, 120), 0) << pods.Log(w);
  // The coordinator (a Deployment: it must not exit) stays up after the job, serving status.
  for (int i = 0; i < 50 && pods.Log(coordinator).find("serving its status") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(pods.Log(coordinator),
              HasSubstr("job succeeded; serving its status until terminated"));
  kill(coordinator, SIGTERM);
  WaitExit(coordinator, 10);
  EXPECT_THAT(pods.Log(workers[0]), HasSubstr("registry: adder v1 -> production"));
  // The control service (its token, its PVC) holds the registered version and the audit.
  std::ofstream(dir + "/token") << "k8s-e2e-secret\n";
  const std::string tls = fmt::format(
      " --tls-ca {0}/ca.pem --tls-cert {0}/client.pem --tls-key {0}/client.key", pki.dir);
  Result list =
      Meshtrain("registry list --control 127.0.0.1:29500 --token-file " + dir + "/token" + tls);
  EXPECT_THAT(list.output, HasSubstr("adder                           1 production"))
      << list.output;
  Result audit =
      Meshtrain("audit list --control 127.0.0.1:29500 --token-file " + dir + "/token" + tls);
  EXPECT_THAT(audit.output, HasSubstr("data read"));
  Result anonymous = Meshtrain("registry list --control 127.0.0.1:29500 --token-file " + dir +
                               "/token --tls-ca " + pki.dir + "/ca.pem");  // no client certificate
  EXPECT_NE(anonymous.exit_code, 0);
  Result plain =
      Meshtrain("registry list --control 127.0.0.1:29500 --token-file " + dir + "/token");
  EXPECT_NE(plain.exit_code, 0);
  kill(control, SIGTERM);
  EXPECT_EQ(WaitExit(control, 20), 0) << pods.Log(control);
  EXPECT_TRUE(fs::exists(dir + "/pods/pvc/control.db"));
  fs::remove_all(dir);
  fs::remove_all(pki.dir);
}

TEST(K8sPods, TheRenderedPodsRunTheJob) { RunRenderedPods(1); }
TEST(K8sPods, TwoRanksPerPod) { RunRenderedPods(2); }

// The exit codes the Job's pod failure policy matches: an invalid job file is 2 (FailJob),
// a coordinator that cannot be reached is 4 (counted and retried), never 2.
TEST(K8sPods, ExitCodeContract) {
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/bad.yaml") << "name: k8s-bad\nmodel: {n_layer: 0}\n";
  Result invalid =
      Meshtrain("worker " + dir + "/bad.yaml", "JOB_COMPLETION_INDEX=0 MT_COORDINATOR=127.0.0.1:1");
  EXPECT_EQ(invalid.exit_code, 2) << invalid.output;
  std::ofstream(dir + "/ok.yaml")
      << "name: k8s-lost\nmodel: {n_layer: 1, n_head: 2, d_model: 16, seq_len: 12, vocab_size: "
         "256}\ndata: {uri: file:///tmp/none}\nmesh: {dp: 2}\ntrain: {global_batch: 4, steps: 1, "
         "lr: 1e-2}\nfault_tolerance: {heartbeat_s: 0.5, rendezvous_timeout_s: 2}\n";
  Result lost = Meshtrain("worker " + dir + "/ok.yaml --run-dir " + dir + "/run",
                          "JOB_COMPLETION_INDEX=1 MT_COORDINATOR=127.0.0.1:1");
  EXPECT_EQ(lost.exit_code, 4) << lost.output;
  fs::remove_all(dir);
}

TEST(K8sKubectl, WrappersCallKubectlWithTheJobsLabel) {
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string fake = dir + "/kubectl";
  std::ofstream(fake) << "#!/bin/sh\necho \"$@\" >> " << dir << "/calls\ncat > " << dir
                      << "/stdin-$$\nexit 0\n";
  fs::permissions(fake, fs::perms::owner_all);
  const std::string env = "MT_KUBECTL=" + fake;
  EXPECT_EQ(Meshtrain("k8s submit " + kSource + "/examples/quickstart.yaml --namespace ml", env)
                .exit_code,
            0);
  EXPECT_EQ(Meshtrain("k8s status quickstart --namespace ml", env).exit_code, 0);
  EXPECT_EQ(Meshtrain("k8s logs quickstart --index 1 --namespace ml", env).exit_code, 0);
  EXPECT_EQ(Meshtrain("k8s cancel quickstart --namespace ml", env).exit_code, 0);
  const std::vector<std::string> calls = Lines(ReadFile(dir + "/calls"));
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0], "--namespace ml apply -f -");
  EXPECT_EQ(calls[1],
            "--namespace ml get jobs,deployments,pods -l meshtrain.dev/job=quickstart -o wide");
  EXPECT_THAT(calls[2], HasSubstr("logs -l meshtrain.dev/job=quickstart,app.kubernetes.io/"
                                  "component=worker,batch.kubernetes.io/job-completion-index=1"));
  EXPECT_THAT(calls[3], HasSubstr("delete jobs,deployments,services,configmaps,networkpolicies,"
                                  "serviceaccounts -l meshtrain.dev/job=quickstart"));
  bool applied = false;  // what apply read on stdin: the rendered manifests
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().filename().string().rfind("stdin-", 0) == 0 &&
        ReadFile(f.path().string()).find("kind: \"Job\"") != std::string::npos) {
      applied = true;
    }
  }
  EXPECT_TRUE(applied);
  Result missing = Meshtrain("k8s status quickstart", "MT_KUBECTL=/nonexistent/kubectl");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("cannot run /nonexistent/kubectl"));
  fs::remove_all(dir);
}

// The control service's retrains as Kubernetes Jobs: the fine-tune rendered under its own
// name, reporting to the service's advertised address, applied, polled until Complete, its
// objects deleted, the outcome reported (kubectl here is a recording fake).
TEST(K8sRetrain, AppliesPollsAndCleansUp) {
  char tmpl[] = "/tmp/meshtrain-k8s-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string fake = dir + "/kubectl";
  std::ofstream(fake) << "#!/bin/sh\necho \"$@\" >> " << dir << "/calls\n"
                      << "case \"$*\" in *apply*) cat > " << dir << "/applied.yaml ;; "
                      << "*\"get job\"*) printf Complete ;; esac\nexit 0\n";
  fs::permissions(fake, fs::perms::owner_all);
  std::ofstream(dir + "/job.yaml")
      << "name: adder-job\nmodel: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, "
         "vocab_size: 256}\ndata: {uri: az://acct/data/b}\nmesh: {dp: 2}\ntrain: "
         "{global_batch: 16, steps: 4, lr: 1e-2}\ncontrol: {endpoint: \"adder-job-control:29500\", "
         "model: adder}\nfinetune: {base: adder@1}\nresources: {token_secret: adder-token}\n";
  mt::job::LoadResult loaded = mt::job::LoadJobFile(dir + "/job.yaml", {});
  ASSERT_TRUE(loaded.ok());
  mt::k8s::KubectlOptions kubectl;
  kubectl.kubectl = fake;
  kubectl.namespace_name = "ml";
  std::optional<mt::control::JobOutcome> outcome;
  {
    mt::k8s::RetrainSubmitter submitter(kubectl, {}, /*poll_s=*/0.05);
    mt::control::RetrainInfo r;
    r.id = 3;
    r.model = "adder";
    r.base_version = 1;
    ASSERT_TRUE(submitter.Submit(r, loaded.spec, "db", [&](const auto& o) { outcome = o; }).ok());
    submitter.WaitAll();
    meshtrain::v1::JobSpec embedded = loaded.spec;
    embedded.mutable_control()->set_endpoint("embedded");
    EXPECT_EQ(submitter.Submit(r, embedded, "db", [](const auto&) {}).code(),
              absl::StatusCode::kFailedPrecondition);
  }
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(outcome->ok);
  const std::vector<std::string> calls = Lines(ReadFile(dir + "/calls"));
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls.front(), "--namespace ml apply -f -");
  EXPECT_THAT(calls[1], HasSubstr("get job adder-retrain-3-workers"));
  EXPECT_THAT(calls.back(), HasSubstr("delete jobs,deployments,services,configmaps,"
                                      "networkpolicies,serviceaccounts -l "
                                      "meshtrain.dev/job=adder-retrain-3"));
  const std::string applied = ReadFile(dir + "/applied.yaml");
  EXPECT_THAT(applied, HasSubstr("name: \"adder-retrain-3-workers\""));
  EXPECT_THAT(applied, HasSubstr("\"endpoint\": \"adder-job-control:29500\""));
  EXPECT_THAT(applied, HasSubstr("\"token_file\": \"/etc/meshtrain-secrets/token\""));
  EXPECT_EQ(applied.find("adder-retrain-3-control"), std::string::npos);  // no second service
  fs::remove_all(dir);
}

}  // namespace
