// Launch paths end to end with the real binary: `meshtrain run --nproc 4`, `mpirun -np 4
// meshtrain worker`, and a simulated Kubernetes Indexed Job (standalone coordinator + workers
// with JOB_COMPLETION_INDEX); kill -9 of a worker with and without restarts; refusals.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

const std::string kBin = std::string(MT_BINARY_DIR) + "/bin/meshtrain";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// A shell command in the background, output to `log`; returns its pid (the command itself,
// thanks to exec).
pid_t Spawn(const std::string& cmd, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string line = "exec " + cmd + " >" + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Exit code (or 128 + signal); -1 on timeout (the process is then killed).
int Wait(pid_t pid, double timeout_s) {
  const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

int RunCmd(const std::string& cmd, const std::string& log, double timeout_s) {
  return Wait(Spawn(cmd, log), timeout_s);
}

// Polls `meshtrain status` until every rank reached `step`; returns the status JSON.
json WaitForStep(const std::string& where, int64_t step, double timeout_s) {
  const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  const std::string out = "/tmp/meshtrain-status-" + std::to_string(getpid()) + ".json";
  while (Clock::now() < end) {
    if (RunCmd(kBin + " status --json " + where, out, 10) == 0) {
      json s = json::parse(Slurp(out), nullptr, false);
      bool all = s.is_object() && s.value("state", "") == "running" && s.contains("ranks");
      if (all) {
        for (const auto& r : s["ranks"]) all = all && std::stoll(r.value("step", "0")) >= step;
      }
      if (all) return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return json();
}

class Launch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/meshtrain-launch-XXXXXX";
    dir_ = mkdtemp(tmpl);
    // The quickstart's dataset (scripts/quickstart.sh).
    ASSERT_EQ(RunCmd(kBin +
                         " data prepare --task addition --digits 2 --sample-len 13 "
                         "--train-samples 60000 --eval-samples 1024 --out " +
                         dir_ + "/data",
                     dir_ + "/prepare.log", 300),
              0)
        << Slurp(dir_ + "/prepare.log");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // examples/quickstart.yaml with a 4-rank data-parallel mesh and our data; `edits` are
  // (from, to) replacements applied on top.
  static std::string Job(const std::string& name,
                         std::vector<std::pair<std::string, std::string>> edits = {}) {
    std::string text = Slurp(std::string(MT_SOURCE_DIR) + "/examples/quickstart.yaml");
    edits.insert(edits.begin(), {{"mesh:    {dp: 1", "mesh:    {dp: 4"},
                                 {"file://runs/data/add2", "file://" + dir_ + "/data"}});
    for (const auto& [from, to] : edits) {
      const size_t at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
    }
    const std::string path = dir_ + "/" + name + ".yaml";
    std::ofstream(path) << text;
    return path;
  }
  // A shorter job for the fault paths: 300 steps, heartbeats every second.
  static std::string ShortJob(const std::string& name, int max_restarts) {
    return Job(name, {{"steps: 1000", "steps: 300"},
                      {"max_restarts: 2", "max_restarts: " + std::to_string(max_restarts)},
                      {"heartbeat_s: 2", "heartbeat_s: 1"},
                      {"rendezvous_timeout_s: 120", "rendezvous_timeout_s: 60"}});
  }
  static json Summary(const std::string& run_dir) {
    return json::parse(Slurp(run_dir + "/summary.json"), nullptr, false);
  }
  // The same bar as the single-process quickstart: held-out exact match.
  static void ExpectQuickstartBar(const json& s) {
    ASSERT_TRUE(s.is_object());
    EXPECT_GE(s.value("eval_accuracy", 0.0), 0.9) << s.dump();
    EXPECT_EQ(s.value("world_size", 0), 4);
    EXPECT_EQ(s.value("generations", 0), 1);
    EXPECT_EQ(s.value("restarts", -1), 0);
  }

  static std::string dir_;
};
std::string Launch::dir_;

// The ids the 4 ranks trained on (MT_DATA_TRACE): every step's slices are disjoint and the
// first epoch reads each of the 60000 training samples exactly once.
void ExpectFirstEpochExactlyOnce(const std::string& trace) {
  std::map<int64_t, std::vector<int64_t>> by_position;  // global position -> ids
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    const int64_t begin = j["position"].get<int64_t>() + j["rank"].get<int>() * 32;
    const auto ids = j["ids"].get<std::vector<int64_t>>();
    for (size_t i = 0; i < ids.size(); ++i) by_position[begin + i].push_back(ids[i]);
  }
  ASSERT_EQ(by_position.size(), 1000u * 128) << "positions missing from the trace";
  std::vector<int> seen(60000, 0);
  for (int64_t p = 0; p < 60000; ++p) {
    ASSERT_EQ(by_position[p].size(), 1u) << "position " << p << " read by two ranks";
    ++seen.at(by_position[p][0]);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 60000) << "a sample twice in epoch 1";
}

TEST_F(Launch, LocalFourRanksReachTheQuickstartBar) {
  const std::string run = dir_ + "/local";
  const int rc = RunCmd("env MT_DATA_TRACE=" + dir_ + "/trace.jsonl " + kBin + " run " +
                            Job("local") + " --nproc 4 --run-dir " + run,
                        dir_ + "/local.log", 600);
  const std::string out = Slurp(dir_ + "/local.log");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("[rank 0] step 1000/1000"));
  EXPECT_THAT(out, HasSubstr("[rank 3] "));
  EXPECT_THAT(out, HasSubstr("job succeeded: 4 ranks"));
  ExpectQuickstartBar(Summary(run));
  EXPECT_NE(Slurp(run + "/metrics.jsonl").find("\"step\":1000"), std::string::npos);
  ExpectFirstEpochExactlyOnce(dir_ + "/trace.jsonl");
  // The data audit: each of the dataset's 16 shards (15 train, 1 eval) recorded once.
  std::set<std::string> audited;
  std::ifstream audit(run + "/data-audit.jsonl");
  for (std::string line; std::getline(audit, line);) {
    const json j = json::parse(line);
    EXPECT_EQ(j["xxh64"].get<std::string>().size(), 16u);
    EXPECT_TRUE(audited.insert(j["uri"].get<std::string>()).second) << line;
  }
  EXPECT_EQ(audited.size(), 16u);
  EXPECT_EQ(audited.count("file://" + dir_ + "/data/train-00014.bin"), 1u);
}

TEST_F(Launch, MpirunFourRanksReachTheQuickstartBar) {
  if (std::string(MT_MPIEXEC).empty()) GTEST_SKIP() << "no mpirun in this build";
  const std::string run = dir_ + "/mpi";
  const int rc = RunCmd(std::string(MT_MPIEXEC) + " --allow-run-as-root --oversubscribe -np 4 " +
                            kBin + " worker " + Job("mpi") + " --run-dir " + run,
                        dir_ + "/mpi.log", 600);
  const std::string out = Slurp(dir_ + "/mpi.log");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("collective backend: mpi (4 ranks)"));
  ExpectQuickstartBar(Summary(run));
}

// Starts `meshtrain coordinator` on a free port; returns its pid and fills `address`.
pid_t StartCoordinator(const std::string& job, const std::string& log, std::string& address) {
  const pid_t pid = Spawn(kBin + " coordinator " + job + " --listen 127.0.0.1:0", log);
  const std::regex listening("listening on (127\\.0\\.0\\.1:[0-9]+)");
  for (int i = 0; i < 200; ++i) {
    std::smatch m;
    const std::string text = Slurp(log);
    if (std::regex_search(text, m, listening)) {
      address = m[1];
      return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pid;
}

std::vector<pid_t> StartIndexedWorkers(const std::string& job, const std::string& address,
                                       const std::string& run, const std::string& logs) {
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) {
    pids.push_back(Spawn("env JOB_COMPLETION_INDEX=" + std::to_string(i) +
                             " MT_COORDINATOR=" + address + " OMP_NUM_THREADS=1 " + kBin +
                             " worker " + job + " --run-dir " + run,
                         logs + std::to_string(i) + ".log"));
  }
  return pids;
}

TEST_F(Launch, SimulatedKubernetesIndexedJob) {
  const std::string job = ShortJob("k8s", 0);
  std::string address;
  const pid_t coordinator = StartCoordinator(job, dir_ + "/k8s-coord.log", address);
  ASSERT_FALSE(address.empty()) << Slurp(dir_ + "/k8s-coord.log");
  const auto workers = StartIndexedWorkers(job, address, dir_ + "/k8s", dir_ + "/k8s-w");
  ASSERT_FALSE(WaitForStep("--coordinator " + address, 5, 120).is_null());
  // Refusals while the job runs: another job file, and a fifth worker after rendezvous.
  const std::string other = Job("other", {{"name: quickstart", "name: another"}});
  EXPECT_NE(RunCmd("env MT_COORDINATOR=" + address + " " + kBin + " worker " + other,
                   dir_ + "/other.log", 60),
            0);
  EXPECT_THAT(Slurp(dir_ + "/other.log"), HasSubstr("does not match this coordinator's job"));
  EXPECT_NE(RunCmd("env MT_COORDINATOR=" + address + " " + kBin + " worker " + job,
                   dir_ + "/late.log", 60),
            0);
  EXPECT_THAT(Slurp(dir_ + "/late.log"), HasSubstr("rendezvous of generation 1 is closed"));
  for (size_t i = 0; i < workers.size(); ++i) {
    EXPECT_EQ(Wait(workers[i], 300), 0) << Slurp(dir_ + "/k8s-w" + std::to_string(i) + ".log");
  }
  EXPECT_EQ(Wait(coordinator, 30), 0) << Slurp(dir_ + "/k8s-coord.log");
  const json s = Summary(dir_ + "/k8s");
  EXPECT_EQ(s.value("world_size", 0), 4);
  EXPECT_EQ(s.value("final_step", 0), 300);
}

TEST_F(Launch, KillNineIsDetectedByTheLeaseAndFailsNamingTheRank) {
  const std::string job = ShortJob("lease", 0);
  std::string address;
  const pid_t coordinator = StartCoordinator(job, dir_ + "/lease-coord.log", address);
  ASSERT_FALSE(address.empty());
  const auto workers = StartIndexedWorkers(job, address, dir_ + "/lease", dir_ + "/lease-w");
  ASSERT_FALSE(WaitForStep("--coordinator " + address, 10, 120).is_null());
  kill(workers[1], SIGKILL);
  EXPECT_EQ(Wait(coordinator, 60), 1);
  const std::string out = Slurp(dir_ + "/lease-coord.log");
  EXPECT_THAT(out, HasSubstr("job failed: rank 1 (worker"));
  EXPECT_THAT(out, HasSubstr("max_restarts = 0"));
  // Detected within 2 heartbeat intervals (heartbeat_s: 1) of its last heartbeat.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("none for ([0-9.]+) s")));
  EXPECT_LT(std::stod(m[1]), 2.0) << m[0];
  for (size_t i = 0; i < workers.size(); ++i) {
    if (i != 1) {
      EXPECT_NE(Wait(workers[i], 60), 0);  // told the job failed
    }
  }
}

// `--ranks-per-pod 2`: two pods of two ranks each (an Indexed Job with resources.ranks_per_pod).
// Killing one rank fails its pod with that rank's code after the pod stopped its sibling
// (process::ChildGroup), and the job fails naming the rank.
TEST_F(Launch, APodStopsItsOtherRanksWhenOneDies) {
  const std::string job = ShortJob("pods", 0);
  std::string address;
  const pid_t coordinator = StartCoordinator(job, dir_ + "/pods-coord.log", address);
  ASSERT_FALSE(address.empty());
  std::vector<pid_t> pods;
  for (int i = 0; i < 2; ++i) {
    pods.push_back(Spawn("env JOB_COMPLETION_INDEX=" + std::to_string(i) +
                             " MT_COORDINATOR=" + address + " " + kBin + " worker " + job +
                             " --run-dir " + dir_ + "/pods --ranks-per-pod 2",
                         dir_ + "/pod" + std::to_string(i) + ".log"));
  }
  const json s = WaitForStep("--coordinator " + address, 10, 120);
  ASSERT_FALSE(s.is_null()) << Slurp(dir_ + "/pod0.log") << Slurp(dir_ + "/pod1.log");
  ASSERT_EQ(s["ranks"].size(), 4u);
  for (const auto& r : s["ranks"]) {  // rank 3: pod 1, slot 1
    if (r.value("rank", -1) == 3) kill(std::stoi(r.value("pid", "0")), SIGKILL);
  }
  EXPECT_EQ(Wait(pods[1], 90), 128 + SIGKILL) << Slurp(dir_ + "/pod1.log");
  EXPECT_NE(Wait(pods[0], 90), 0) << Slurp(dir_ + "/pod0.log");  // told the job failed
  EXPECT_EQ(Wait(coordinator, 60), 1);
  // Rank 3 died and its pod stopped rank 2 at once: the lease finds either first.
  EXPECT_THAT(Slurp(dir_ + "/pods-coord.log"),
              ::testing::ContainsRegex("job failed: rank [23] \\(worker"));
}

// Starts `meshtrain run --nproc 4` in the background, waits for step 20, kills rank 2.
int RunAndKillRankTwo(const std::string& job, const std::string& run, const std::string& log) {
  const pid_t launcher = Spawn(kBin + " run " + job + " --run-dir " + run, log);
  const json s = WaitForStep("--run-dir " + run, 20, 120);
  EXPECT_FALSE(s.is_null()) << Slurp(log);
  if (s.is_null()) return Wait(launcher, 1);
  for (const auto& r : s["ranks"]) {
    if (r.value("rank", -1) == 2) kill(std::stoi(r.value("pid", "0")), SIGKILL);
  }
  return Wait(launcher, 300);
}

TEST_F(Launch, KillNineWithOneRestartCompletes) {
  const std::string run = dir_ + "/restart";
  // With checkpoints every 10 steps, generation 2 resumes from the last committed version.
  std::string job = ShortJob("restart", 1);
  std::string text = Slurp(job);
  text += "checkpoint: {store: file://" + dir_ + "/ck-restart, every: 10}\n";
  std::ofstream(job, std::ios::trunc) << text;
  const int rc = RunAndKillRankTwo(job, run, dir_ + "/restart.log");
  const std::string out = Slurp(dir_ + "/restart.log");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("rank 2 (worker"));
  EXPECT_THAT(out, HasSubstr("killed by signal 9"));
  EXPECT_THAT(out, HasSubstr("restarting 4 workers for generation 2"));
  const json s = Summary(run);
  EXPECT_EQ(s.value("restarts", 0), 1);
  EXPECT_EQ(s.value("generations", 0), 2);
  EXPECT_EQ(s.value("final_step", 0), 300);
  EXPECT_GE(s.value("resumed_from", 0), 1) << "generation 2 did not resume a checkpoint";
  EXPECT_THAT(out, HasSubstr("resumed from checkpoint version"));
}

// A dp=4 run interrupted (Ctrl-C) after some checkpoints, resumed at dp=2 from the latest
// committed version: the samples the two runs trained on (the first up to the resumed step)
// are each sample of the epoch exactly once.
TEST_F(Launch, InterruptedAtDp4ResumedAtDp2ReadsTheEpochExactlyOnce) {
  ASSERT_EQ(RunCmd(kBin +
                       " data prepare --task addition --digits 2 --sample-len 13 "
                       "--train-samples 12800 --eval-samples 256 --out " +
                       dir_ + "/once-data",
                   dir_ + "/once-prepare.log", 120),
            0);
  auto job = [&](const std::string& name, int dp) {
    return Job(name, {{"{dp: 4", "{dp: " + std::to_string(dp)},
                      {dir_ + "/data", dir_ + "/once-data"},
                      {"steps: 1000", "steps: 100"},
                      {"warmup: 50", "warmup: 5"},
                      {"backend: auto", "checkpoint: {store: file://" + dir_ +
                                            "/ck-once, every: 5}\nbackend: auto"}});
  };
  const std::string run4 = dir_ + "/once4", log4 = dir_ + "/once4.log";
  const pid_t launcher = Spawn("env MT_DATA_TRACE=" + dir_ + "/once4.jsonl " + kBin + " run " +
                                   job("once4", 4) + " --run-dir " + run4,
                               log4);
  const json status = WaitForStep("--run-dir " + run4, 12, 120);
  ASSERT_FALSE(status.is_null()) << Slurp(log4);
  // Versions at steps 5 and 10 are committed by now (each rank reports before its next step).
  EXPECT_GE(std::stoll(status.value("checkpoint_version", "0")), 2) << status.dump();
  kill(launcher, SIGINT);
  ASSERT_EQ(Wait(launcher, 60), 130) << Slurp(log4);

  const std::string log2 = dir_ + "/once2.log";
  ASSERT_EQ(RunCmd("env MT_DATA_TRACE=" + dir_ + "/once2.jsonl " + kBin + " run " +
                       job("once2", 2) + " --run-dir " + dir_ + "/once2",
                   log2, 300),
            0)
      << Slurp(log2);
  std::smatch m;
  const std::string out2 = Slurp(log2);
  ASSERT_TRUE(std::regex_search(out2, m,
                                std::regex("resumed from checkpoint version [0-9]+ of "
                                           "[^:]+:[^:]+: step ([0-9]+)")))
      << out2;
  const int64_t resumed = std::stoll(m[1]);
  EXPECT_GE(resumed, 10);
  EXPECT_EQ(resumed % 5, 0);
  std::vector<int> seen(12800, 0);
  std::set<int64_t> positions;
  for (const auto& [file, per_rank, before] :
       {std::tuple{dir_ + "/once4.jsonl", 32, resumed},
        std::tuple{dir_ + "/once2.jsonl", 64, int64_t{100}}}) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const json j = json::parse(line);
      if (j["step"].get<int64_t>() >= before) continue;  // trained after the checkpoint: lost
      const int64_t begin = j["position"].get<int64_t>() + j["rank"].get<int>() * per_rank;
      const auto ids = j["ids"].get<std::vector<int64_t>>();
      for (size_t i = 0; i < ids.size(); ++i) {
        EXPECT_TRUE(positions.insert(begin + i).second) << "position " << begin + i << " twice";
        ++seen.at(ids[i]);
      }
    }
  }
  EXPECT_EQ(positions.size(), 12800u);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 12800) << "a sample missed or repeated";
}

TEST_F(Launch, KillNineWithoutRestartsFailsNamingTheRank) {
  const std::string run = dir_ + "/norestart";
  const int rc = RunAndKillRankTwo(ShortJob("norestart", 0), run, dir_ + "/norestart.log");
  const std::string out = Slurp(dir_ + "/norestart.log");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("meshtrain run: job failed: rank 2 (worker"));
  EXPECT_THAT(out, HasSubstr("killed by signal 9"));
  EXPECT_FALSE(fs::exists(run + "/summary.json"));
}

}  // namespace

namespace {

TEST_F(Launch, CtrlCStopsEveryWorkerAndExits130) {
  const std::string run = dir_ + "/sigint";
  const pid_t launcher =
      Spawn(kBin + " run " + ShortJob("sigint", 2) + " --run-dir " + run, dir_ + "/sigint.log");
  const json s = WaitForStep("--run-dir " + run, 5, 120);
  ASSERT_FALSE(s.is_null()) << Slurp(dir_ + "/sigint.log");
  kill(launcher, SIGINT);
  EXPECT_EQ(Wait(launcher, 30), 130) << Slurp(dir_ + "/sigint.log");
  EXPECT_THAT(Slurp(dir_ + "/sigint.log"),
              HasSubstr("meshtrain run: interrupted by SIGINT; no checkpoint block: a rerun "
                        "starts from step 0"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (const auto& r : s["ranks"]) {
    const pid_t pid = std::stoi(r.value("pid", "0"));
    EXPECT_NE(kill(pid, 0), 0) << "worker " << pid << " outlived the launcher";
  }
}

}  // namespace
