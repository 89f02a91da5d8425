// Everyday misuse of the `meshtrain` binary changes nothing and says why (issue 20): a finished
// job run again, two runs into one run dir or store, outputs that exist, readers pointed at
// nothing, a changed job resumed, bad ranges and environment values.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli/cli_support.h"

namespace {

namespace fs = std::filesystem;
using namespace mt::testing;  // NOLINT: the helpers of cli_support.h
using ::testing::HasSubstr;
using ::testing::Not;

// DIR/NAME.yaml: the 2-layer test GPT, one process unless `extra` sets a mesh, checkpoints in
// DIR/CK every 10 steps.
std::string Job(const std::string& dir, const std::string& name, const std::string& train,
                const std::string& extra = "", const std::string& ck = "ck") {
  const std::string path = dir + "/" + name + ".yaml";
  std::ofstream(path) << "name: misuse\n"
                         "model: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, vocab_size: "
                         "256}\n"
                         "data: {uri: file://" +
                             dir +
                             "/data}\n"
                             "train: {global_batch: 8, " +
                             train +
                             "}\n"
                             "checkpoint: {store: file://" +
                             dir + "/" + ck + ", every: 10}\n" + extra;
  return path;
}

// Runs `meshtrain ARGS` in the background; its pid.
pid_t Spawn(const std::string& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = "exec " + kBinary + " " + args + " >" + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Waits until FILE exists and is not empty (a hold written), at most 60 s.
bool WaitForFile(const std::string& file) {
  for (int i = 0; i < 600; ++i) {
    std::error_code ec;
    if (fs::exists(file, ec) && fs::file_size(file, ec) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(Misuse, AFinishedJobRunAgainChangesNothing) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string job = Job(dir, "job", "steps: 20");
  Result first = Meshtrain("run " + job + " --run-dir " + dir + "/run");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string summary = ReadFile(dir + "/run/summary.json");
  const std::string metrics = ReadFile(dir + "/run/metrics.jsonl");
  for (int again = 0; again < 2; ++again) {
    Result r = Meshtrain("run " + job + " --run-dir " + dir + "/run");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("job misuse is complete: step 20 of 20, checkpoint version 2"));
    EXPECT_THAT(r.output, HasSubstr("registered as misuse v1"));
    EXPECT_THAT(r.output, HasSubstr("To train further raise train.steps"));
    EXPECT_THAT(r.output, Not(HasSubstr("registry: misuse v2")));
  }
  EXPECT_EQ(ReadFile(dir + "/run/summary.json"), summary);
  EXPECT_EQ(ReadFile(dir + "/run/metrics.jsonl"), metrics);
  Result list = Meshtrain("registry list --db " + dir + "/run/control.db");
  EXPECT_THAT(list.output, HasSubstr("misuse"));
  EXPECT_THAT(list.output, Not(HasSubstr("       2 ")));  // one version, not one per re-run
  fs::remove_all(dir);
}

// A job without a checkpoint block cannot resume: run again into a run dir holding its
// finished results it says complete; another job there is refused (the model file is a
// registered version's weights) unless --force. Before, both trained from step 0 and replaced
// model.safetensors and summary.json.
TEST(Misuse, ACheckpointlessRerunKeepsTheFinishedResultsUnlessForced) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string job = dir + "/plain.yaml";
  std::ofstream(job) << "name: plain\nmodel: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, "
                        "vocab_size: 256}\ndata: {uri: file://"
                     << dir << "/data}\ntrain: {global_batch: 8, steps: 6}\n";
  const std::string run = " --run-dir " + dir + "/run";
  ASSERT_EQ(Meshtrain("run " + job + run).exit_code, 0);
  const std::string model = ReadFile(dir + "/run/model.safetensors");
  const std::string summary = ReadFile(dir + "/run/summary.json");
  ASSERT_FALSE(model.empty());
  Result same = Meshtrain("run " + job + run);
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_THAT(same.output, HasSubstr("job plain is complete: step 6 of 6"));
  EXPECT_THAT(same.output, HasSubstr("registered as plain v1"));
  EXPECT_THAT(same.output, HasSubstr("pass --force"));
  Result other = Meshtrain("run " + job + run + " --set train.steps=8");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_THAT(other.output, HasSubstr("holds the results of another run (job plain-"));
  EXPECT_THAT(other.output, HasSubstr("step 6; registered as plain v1)"));
  EXPECT_EQ(ReadFile(dir + "/run/model.safetensors"), model);
  EXPECT_EQ(ReadFile(dir + "/run/summary.json"), summary);
  Result forced = Meshtrain("run " + job + run + " --set train.steps=8 --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_THAT(forced.output, HasSubstr("--force: replacing the results of plain-"));
  EXPECT_THAT(ReadFile(dir + "/run/summary.json"), HasSubstr("\"final_step\": 8"));
  fs::remove_all(dir);
}

TEST(Misuse, ASecondRunIntoAHeldRunDirOrStoreIsRefusedAndADeadHolderTakenOver) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  // Constant schedule: the takeover below may end the run at another step count.
  const std::string long_job = Job(dir, "long", "steps: 1000000, schedule: constant");
  const pid_t first = Spawn("run " + long_job + " --run-dir " + dir + "/run", dir + "/first.log");
  ASSERT_TRUE(WaitForFile(dir + "/ck/writer.lock")) << ReadFile(dir + "/first.log");
  ASSERT_TRUE(WaitForFile(dir + "/run/run.lock"));
  Result same_dir = Meshtrain("run " + long_job + " --run-dir " + dir + "/run");
  EXPECT_EQ(same_dir.exit_code, 2) << same_dir.output;
  EXPECT_THAT(same_dir.output, HasSubstr("/run/run.lock is held by meshtrain run (pid " +
                                         std::to_string(first) + " on "));
  Result same_store = Meshtrain("run " + long_job + " --run-dir " + dir + "/other");
  EXPECT_EQ(same_store.exit_code, 2) << same_store.output;
  EXPECT_THAT(same_store.output,
              HasSubstr("/ck/writer.lock is held by meshtrain run (pid " + std::to_string(first)));
  EXPECT_FALSE(fs::exists(dir + "/other/metrics.jsonl"));  // refused before writing
  // Killed with no chance to clean up, the first run's holds go with it.
  kill(first, SIGKILL);
  waitpid(first, nullptr, 0);
  const std::string short_job = Job(dir, "short", "steps: 5, schedule: constant");
  Result takeover = Meshtrain("run " + short_job + " --run-dir " + dir + "/run --resume never");
  EXPECT_EQ(takeover.exit_code, 0) << takeover.output;
  fs::remove_all(dir);
}

TEST(Misuse, OutputsThatExistAreReplacedOnlyWithForce) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  ASSERT_EQ(
      Meshtrain("run " + Job(dir, "job", "steps: 10") + " --run-dir " + dir + "/run").exit_code, 0);
  std::ofstream(dir + "/notes.txt") << "my notes";
  Result exp = Meshtrain("ckpt export " + dir + "/ck --out " + dir + "/notes.txt");
  EXPECT_EQ(exp.exit_code, 2) << exp.output;
  EXPECT_THAT(exp.output, HasSubstr("--out " + dir + "/notes.txt: exists (a file); pass --force"));
  EXPECT_EQ(ReadFile(dir + "/notes.txt"), "my notes");
  Result forced = Meshtrain("ckpt export " + dir + "/ck --out " + dir + "/notes.txt --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_NE(ReadFile(dir + "/notes.txt"), "my notes");
  // A dataset other jobs use is not replaced; with --force it is replaced whole.
  const std::string index = ReadFile(dir + "/data/index.json");
  const std::string prepare =
      "data prepare --digits 2 --sample-len 13 --train-samples 100 "
      "--eval-samples 8 --out " +
      dir + "/data";
  Result again = Meshtrain(prepare);
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_THAT(again.output, HasSubstr("--out " + dir + "/data: exists (a directory)"));
  EXPECT_EQ(ReadFile(dir + "/data/index.json"), index);
  Result replaced = Meshtrain(prepare + " --force");
  EXPECT_EQ(replaced.exit_code, 0) << replaced.output;
  EXPECT_THAT(ReadFile(dir + "/data/index.json"), HasSubstr("\"samples\": 100"));
  for (const auto& e : fs::directory_iterator(dir)) {  // nothing left aside
    EXPECT_THAT(e.path().filename().string(), Not(HasSubstr(".partial.")));
    EXPECT_THAT(e.path().filename().string(), Not(HasSubstr(".old.")));
  }
  Result docs = Meshtrain("docs params --out " + dir + "/notes.txt");
  EXPECT_EQ(docs.exit_code, 2) << docs.output;
  fs::remove_all(dir);
}

TEST(Misuse, ReadersFailNamingWhatIsMissingAndCreateNothing) {
  char tmpl[] = "/tmp/meshtrain-readers-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  for (const std::string cmd : {"audit verify", "audit list", "registry list"}) {
    Result r = Meshtrain(cmd + " --db " + dir + "/typo.db");
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(dir + "/typo.db: no such registry file")) << cmd;
    EXPECT_THAT(r.output, Not(HasSubstr("audit chain ok")));
  }
  for (const std::string sub : {"list", "inspect", "verify"}) {
    Result r = Meshtrain("ckpt " + sub + " " + dir + "/nonexistent");
    EXPECT_EQ(r.exit_code, 2) << sub << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(dir + "/nonexistent: No such file or directory")) << sub;
  }
  EXPECT_TRUE(fs::is_empty(dir));  // nothing was created
  fs::remove_all(dir);
}

TEST(Misuse, ResumingWithAChangedJobListsTheChangesAndNeedsAllow) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  ASSERT_EQ(
      Meshtrain("run " + Job(dir, "job", "steps: 20") + " --run-dir " + dir + "/run").exit_code, 0);
  // More steps under cosine stretch the decay; a new lr changes every update.
  const std::string changed = Job(dir, "changed", "steps: 30, lr: 1e-2");
  Result refused = Meshtrain("run " + changed + " --run-dir " + dir + "/run");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("changes its trajectory:\n  train.steps: 20 -> 30\n"
                                        "  train.lr: 0.0003 -> 0.01\n"));
  EXPECT_THAT(refused.output, HasSubstr("pass --allow-job-change"));
  Result allowed = Meshtrain("run " + changed + " --run-dir " + dir + "/run --allow-job-change");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_THAT(allowed.output, HasSubstr("done: 30 steps"));
  // Free: the mesh, the log interval, and steps under a constant schedule.
  const std::string constant = "schedule: constant, steps: ";
  ASSERT_EQ(Meshtrain("run " + Job(dir, "c10", constant + "10", "", "ck2") + " --run-dir " + dir +
                      "/run2")
                .exit_code,
            0);
  Result free_run =
      Meshtrain("run " + Job(dir, "c20", constant + "20, log_every: 5", "mesh: {dp: 2}\n", "ck2") +
                " --run-dir " + dir + "/run2");
  EXPECT_EQ(free_run.exit_code, 0) << free_run.output;
  EXPECT_THAT(free_run.output, HasSubstr("job succeeded: 2 ranks"));
  fs::remove_all(dir);
}

TEST(Misuse, RangesAndEnvironmentValuesAreCheckedReadably) {
  Result nproc = Meshtrain("run job.yaml --run-dir /tmp/x --nproc 0");
  EXPECT_EQ(nproc.exit_code, 2);
  EXPECT_THAT(nproc.output, HasSubstr("--nproc: must be at least 1 (found 0)"));
  EXPECT_LT(nproc.output.size(), 200u) << nproc.output;  // not DBL_MAX in full
  char tmpl[] = "/tmp/meshtrain-ranges-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  Result negative = Meshtrain("data prepare --train-samples -5 --out " + dir + "/d");
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_THAT(negative.output, HasSubstr("--train-samples: must be at least 1 (found -5)"));
  EXPECT_FALSE(fs::exists(dir + "/d"));
  Result digits = Meshtrain("data prepare --digits 12 --out " + dir + "/d");
  EXPECT_THAT(digits.output, HasSubstr("--digits: must be between 1 and 9 (found 12)"));
  Result help = Meshtrain("data prepare --help");
  EXPECT_THAT(help.output, HasSubstr("--train-samples INT:>=1=20000"));  // defaults shown
  Result level = Meshtrain("validate job.yaml", "MT_LOG_LEVEL=loud");
  EXPECT_EQ(level.exit_code, 2);
  EXPECT_THAT(level.output,
              HasSubstr("MT_LOG_LEVEL: expected trace, debug, info, warn, error or off (found "
                        "\"loud\")"));
  Result subsys = Meshtrain("validate job.yaml", "MT_LOG_SUBSYS=DATA,NOPE");
  EXPECT_EQ(subsys.exit_code, 2);
  EXPECT_THAT(subsys.output, HasSubstr("MT_LOG_SUBSYS: log subsystem: unknown name"));
  fs::remove_all(dir);
}

// validate and run make the same checks before step 1: what runs here (device: cuda with a
// mesh), what can be written, and whether the model fits; exit 2, nothing written.
TEST(Misuse, PreflightIsSharedByValidateAndRunAndRefusesBeforeStepOne) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  std::ofstream(dir + "/afile") << "x";
  const std::string unwritable = Job(dir, "unwritable", "steps: 5", "", "afile/ck");
  const std::string huge = dir + "/huge.yaml";
  std::ofstream(huge) << "name: huge\nmodel: {n_layer: 2, n_head: 2, d_model: 1000000, seq_len: "
                         "12, vocab_size: 256}\ndata: {uri: file://"
                      << dir << "/data}\ntrain: {global_batch: 8, steps: 5}\n";
  const std::string cuda = Job(dir, "cuda", "steps: 5", "mesh: {dp: 2}\ndevice: cuda\n");
  for (const std::string verb : {"validate", "run"}) {
    const std::string run_dir = " --run-dir " + dir + "/" + verb;
    Result u = Meshtrain(verb + " " + unwritable + run_dir);
    EXPECT_EQ(u.exit_code, 2) << verb << ": " << u.output;
    EXPECT_THAT(u.output, HasSubstr("checkpoint.store file://" + dir +
                                    "/afile/ck: cannot be "
                                    "written: " +
                                    dir + "/afile is not a directory"));
    Result h = Meshtrain(verb + " " + huge + run_dir);
    EXPECT_EQ(h.exit_code, 2) << verb << ": " << h.output;
    EXPECT_THAT(h.output, HasSubstr("model: needs about "));
    EXPECT_THAT(h.output, HasSubstr("TiB for 1 rank(s) on this machine"));
    Result c = Meshtrain(verb + " " + cuda + run_dir);
    EXPECT_EQ(c.exit_code, 2) << verb << ": " << c.output;
    EXPECT_THAT(c.output, HasSubstr("device: cuda"));
    EXPECT_FALSE(fs::exists(dir + "/" + verb + "/metrics.jsonl"));
  }
  Result ok = Meshtrain("validate " + Job(dir, "fine", "steps: 5"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("memory      ~"));
  fs::remove_all(dir);
}

// One process stopped by a signal says where it stopped and what a rerun resumes from; the
// exit code is 128 + the signal, as a shell reports it.
TEST(Misuse, AnInterruptedRunSaysTheStepAndTheLatestCheckpoint) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  for (const int sig : {SIGINT, SIGTERM}) {
    const std::string ck = "ck" + std::to_string(sig);
    const std::string job = Job(dir, ck, "steps: 1000000, schedule: constant", "", ck);
    const std::string log = dir + "/run-" + std::to_string(sig) + ".log";
    const pid_t pid = Spawn("run " + job + " --run-dir " + dir + "/" + ck + "-run", log);
    ASSERT_TRUE(WaitForFile(dir + "/" + ck + "/LATEST")) << ReadFile(log);
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << ReadFile(log);
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig) << ReadFile(log);
    EXPECT_THAT(ReadFile(log),
                HasSubstr(" of 1000000 by SIG" + std::string(sig == SIGINT ? "INT" : "TERM") +
                          "; latest committed checkpoint: version "));
    EXPECT_THAT(ReadFile(log),
                HasSubstr("of file://" + dir + "/" + ck + "; run again to resume from it"));
  }
  fs::remove_all(dir);
}

// --set overrides are checked like the file and recorded in the run's effective job, which
// the workers of a multi-process run load.
TEST(Misuse, OverridesAreValidatedAndRecorded) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string job = Job(dir, "job", "steps: 1000");
  Result bad = Meshtrain("validate " + job + " --set train.steps=-5");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("train.steps: must be positive (set by --set) (found -5)"));
  Result malformed = Meshtrain("validate " + job + " --set train.steps");
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_THAT(malformed.output,
              HasSubstr("--set: expected KEY.PATH=VALUE (found \"train.steps\")"));
  Result run = Meshtrain("run " + job + " --run-dir " + dir +
                         "/run --set train.steps=6 --set "
                         "'mesh={dp: 2}' --set train.log_every=3");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("job succeeded: 2 ranks"));
  EXPECT_THAT(ReadFile(dir + "/run/job.effective.yaml"), HasSubstr("\"steps\": \"6\""));
  EXPECT_THAT(ReadFile(dir + "/run/summary.json"), HasSubstr("\"final_step\": 6"));
  fs::remove_all(dir);
}

// `status` on a run dir: a live multi-process run shows each mesh communicator's last
// collective (a rank stuck in a tp all-reduce is named with it); a one-process run and a
// finished run say what they are instead of a gRPC error.
TEST(Misuse, StatusNamesEveryCommunicatorAndExplainsRunsWithoutACoordinator) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string tp =
      Job(dir, "tp", "steps: 1000000, schedule: constant", "mesh: {tp: 2}\n", "cktp");
  const pid_t mesh = Spawn("run " + tp + " --run-dir " + dir + "/tp", dir + "/tp.log");
  ASSERT_TRUE(WaitForFile(dir + "/cktp/LATEST")) << ReadFile(dir + "/tp.log");
  Result live = Meshtrain("status --run-dir " + dir + "/tp");
  EXPECT_EQ(live.exit_code, 0) << live.output;
  EXPECT_THAT(live.output, HasSubstr("running (generation 1"));
  EXPECT_THAT(live.output, HasSubstr("tp allreduce #"));
  kill(mesh, SIGINT);
  waitpid(mesh, nullptr, 0);

  const std::string one = Job(dir, "one", "steps: 1000000, schedule: constant", "", "ckone");
  const pid_t single = Spawn("run " + one + " --run-dir " + dir + "/one", dir + "/one.log");
  ASSERT_TRUE(WaitForFile(dir + "/ckone/LATEST")) << ReadFile(dir + "/one.log");
  Result alone = Meshtrain("status --run-dir " + dir + "/one");
  EXPECT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_THAT(alone.output, HasSubstr("a one-process run is training in " + dir +
                                      "/one (meshtrain run (pid " + std::to_string(single)));
  kill(single, SIGINT);
  waitpid(single, nullptr, 0);

  ASSERT_EQ(
      Meshtrain("run " + Job(dir, "done", "steps: 5") + " --run-dir " + dir + "/done").exit_code,
      0);
  Result done = Meshtrain("status --run-dir " + dir + "/done");
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_THAT(done.output, HasSubstr("/done is finished: step 5, final loss "));
  EXPECT_THAT(done.output, HasSubstr("registered as misuse v1"));
  Result nothing = Meshtrain("status --coordinator 127.0.0.1:1");
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_THAT(nothing.output, HasSubstr("no coordinator answers at 127.0.0.1:1"));
  fs::remove_all(dir);
}

// The progress line's tokens/s counts training steps only: a run that evaluates after every
// logged step (most of its time) reports about the rate of one that never does. The line also
// shows MFU (against the measured GEMM rate on CPU) and the peak memory.
TEST(Misuse, ProgressRateExcludesEvaluationAndShowsMfuAndPeakMemory) {
  char tmpl[] = "/tmp/meshtrain-rate-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_EQ(Meshtrain("data prepare --digits 2 --sample-len 13 --train-samples 512 "
                      "--eval-samples 8000 --out " +
                      dir + "/data")
                .exit_code,
            0);
  auto rate_and_wall = [&](const std::string& name, const std::string& eval) {
    const std::string path = dir + "/" + name + ".yaml";
    std::ofstream(path) << "name: rate\nmodel: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, "
                           "vocab_size: 256}\ndata: {uri: file://"
                        << dir << "/data}\ntrain: {global_batch: 8, steps: 60, log_every: 10}\n"
                        << eval;
    const auto t0 = std::chrono::steady_clock::now();
    Result r = Meshtrain("run " + path + " --run-dir " + dir + "/" + name);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("| MFU "));
    EXPECT_THAT(r.output, HasSubstr(" MiB | ETA "));
    double rate = 1e300;  // the slowest window: those after an evaluation
    for (const std::string& line : Lines(ReadFile(dir + "/" + name + "/metrics.jsonl"))) {
      const size_t at = line.find("\"tokens_per_s\":");
      if (at != std::string::npos) rate = std::min(rate, std::stod(line.substr(at + 15)));
    }
    return std::pair{rate, wall};
  };
  const auto [plain, plain_wall] = rate_and_wall("plain", "eval: {every: 0, batches: 1}\n");
  const auto [evals, evals_wall] = rate_and_wall("evals", "eval: {every: 10, batches: 1000}\n");
  ASSERT_GT(plain, 0);
  ASSERT_LT(plain, 1e300);
  if (evals_wall < 3 * plain_wall) GTEST_SKIP() << "evaluation too cheap here to tell";
  // Without the exclusion the slowest window is over 10x slower; loaded machines vary ~2x.
  EXPECT_GT(evals, plain / 5) << "evaluation time counted as training time";
  fs::remove_all(dir);
}

// eval.batches counts batches of global_batch samples: the evaluated samples, and so eval_loss
// (the metric the promotion gate compares), stay the same when micro_batches changes. Before,
// micro_batches 2 scored half the samples and eval_loss moved by far more than rounding.
TEST(Misuse, EvalBatchesCountSamplesWhateverTheMicroBatches) {
  char tmpl[] = "/tmp/meshtrain-evalb-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_EQ(Meshtrain("data prepare --digits 2 --sample-len 13 --train-samples 256 "
                      "--eval-samples 512 --out " +
                      dir + "/data")
                .exit_code,
            0);
  auto eval_loss = [&](int micro) {
    const std::string name = "mb" + std::to_string(micro);
    const std::string path = dir + "/" + name + ".yaml";
    std::ofstream(path) << "name: evalb\nmodel: {n_layer: 2, n_head: 2, d_model: 16, seq_len: 12, "
                           "vocab_size: 256}\ndata: {uri: file://"
                        << dir << "/data}\ntrain: {global_batch: 8, steps: 4}\n"
                        << "parallel: {micro_batches: " << micro << "}\n"
                        << "eval: {every: 0, batches: 6}\n";
    Result r = Meshtrain("run " + path + " --run-dir " + dir + "/" + name);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("6 x 8 samples"));
    const std::string summary = ReadFile(dir + "/" + name + "/summary.json");
    const size_t at = summary.find("\"eval_loss\":");
    EXPECT_NE(at, std::string::npos) << summary;
    return at == std::string::npos ? -1.0 : std::stod(summary.substr(at + 12));
  };
  const double one = eval_loss(1), two = eval_loss(2);
  ASSERT_GT(one, 0);
  EXPECT_NEAR(one, two, 1e-4);
  fs::remove_all(dir);
}

}  // namespace
