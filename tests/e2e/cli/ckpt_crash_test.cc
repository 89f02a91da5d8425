// Crash safety of checkpoints: `meshtrain run` saving every step (sync and async, retention on)
// is killed with SIGKILL at random moments, 20 times, each run resuming the last. After every
// kill the store lists only complete versions (`ckpt verify --version all` passes), and the
// next run resumes from the newest version committed before it. The seed of the delays is
// printed, so a failure can be replayed with MT_CRASH_SEED; so is how many kills landed while
// a version's files were being written (typically 3-4 of 20).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;
const std::string kBinary = std::string(MT_BINARY_DIR) + "/bin/meshtrain";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

int Sh(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The committed versions: directories holding a manifest.
std::vector<int64_t> Committed(const std::string& store) {
  std::vector<int64_t> out;
  if (!fs::exists(store + "/versions")) return out;
  for (const auto& e : fs::directory_iterator(store + "/versions")) {
    if (fs::exists(e.path() / "manifest.json")) out.push_back(std::stoll(e.path().filename()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CheckpointCrash, KillNineDuringSavesNeverLeavesAPartialVersion) {
  char tmpl[] = "/tmp/meshtrain-crash-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_EQ(Sh(kBinary +
               " data prepare --digits 2 --sample-len 13 --train-samples 2048 "
               "--eval-samples 64 --out " +
               dir + "/data > /dev/null 2>&1"),
            0);
  const char* env_seed = std::getenv("MT_CRASH_SEED");
  const unsigned seed = env_seed ? std::stoul(env_seed) : std::random_device{}();
  std::cout << "crash trials: MT_CRASH_SEED=" << seed << "\n";
  RecordProperty("crash_seed", std::to_string(seed));
  std::mt19937 rng(seed);
  const std::string store = dir + "/ck";
  int resumed_runs = 0, kills_after_a_save = 0, kills_mid_save = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const bool async = trial % 2 == 1;
    const std::string job = dir + "/job" + std::to_string(trial % 2) + ".yaml";
    std::ofstream(job) << "name: crash\nmodel: {n_layer: 4, n_head: 4, d_model: 128, seq_len: 12, "
                          "vocab_size: 256}\ndata: {uri: "
                       << dir
                       << "/data}\ntrain: {global_batch: 16, steps: 100000, lr: 1e-3, warmup: 2, "
                          "log_every: 1000}\neval: {every: 0, batches: 1}\ncheckpoint: {store: "
                       << store << ", every: 1, keep_last: 3, async: " << (async ? "true" : "false")
                       << "}\n";
    const std::vector<int64_t> before = Committed(store);
    const std::string log = dir + "/trial" + std::to_string(trial) + ".log";
    const int delay_ms = std::uniform_int_distribution<int>(150, 900)(rng);
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c",
            ("exec " + kBinary + " run " + job + " --run-dir " + dir + "/run > " + log + " 2>&1")
                .c_str(),
            nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "trial " << trial << " ended before the kill: " << Slurp(log);

    // Only complete versions are listed, and each verifies.
    const std::string verify = dir + "/verify.log";
    const int rc = Sh(kBinary + " ckpt verify " + store + " --version all > " + verify + " 2>&1");
    const std::vector<int64_t> after = Committed(store);
    if (!after.empty()) {
      EXPECT_EQ(rc, 0) << "trial " << trial << " (seed " << seed << ", " << delay_ms
                       << " ms): " << Slurp(verify);
      kills_after_a_save += after != before;
    }
    // A version directory above the newest commit: the kill hit a save in progress.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(store + "/versions", ec)) {
      const int64_t v = std::stoll(e.path().filename());
      if (!fs::exists(e.path() / "manifest.json") && (after.empty() || v > after.back())) {
        ++kills_mid_save;
        break;
      }
    }
    // This run resumed from the newest version committed before it.
    const std::string out = Slurp(log);
    std::smatch m;
    if (!before.empty()) {
      if (std::regex_search(out, m, std::regex("resumed from checkpoint version ([0-9]+)"))) {
        EXPECT_EQ(std::stoll(m[1]), before.back()) << "trial " << trial << ": " << out;
        ++resumed_runs;
      } else {
        // Killed before it got that far: it must not have saved anything either.
        EXPECT_EQ(after, before) << "trial " << trial << ": " << out;
      }
    }
  }
  EXPECT_GE(kills_after_a_save, 5) << "too few trials got to save: the test proves little";
  EXPECT_GE(resumed_runs, 5);
  std::cout << "crash trials: " << kills_after_a_save << " of 20 saved before the kill, "
            << kills_mid_save << " killed in the middle of a save, " << resumed_runs
            << " resumed\n";
  fs::remove_all(dir);
}

}  // namespace
