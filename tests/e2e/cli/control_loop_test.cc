// The closed loop end to end, as an operator runs it: a `meshtrain control` service, v1
// trained on data A and promoted, a production metric reported below the job's threshold, the
// fine-tune the service submits (from v1, on data B), v2 registered with parent v1 and gated
// — promoted when it beats v1 by the margin, a candidate when it does not — and the audit
// chain verified, then broken by editing one record.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli/cli_support.h"

namespace {

namespace fs = std::filesystem;
using namespace mt::testing;  // NOLINT: the helpers of cli_support.h
using ::testing::HasSubstr;

// `meshtrain control` in the background on a free port; SIGTERM when destroyed.
class ControlProcess {
 public:
  explicit ControlProcess(const std::string& dir) {
    Shell(
        fmt::format("{0} control --listen 127.0.0.1:0 --db {1}/control.db --runs-dir {1}/runs "
                    "--addr-file {1}/control.addr > {1}/control.log 2>&1 & echo $! > "
                    "{1}/control.pid",
                    kBinary, dir));
    for (int i = 0; i < 200 && !fs::exists(dir + "/control.addr"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::vector<std::string> addr = Lines(ReadFile(dir + "/control.addr"));
    address_ = addr.empty() ? "" : addr[0];
    pid_ = std::atoi(ReadFile(dir + "/control.pid").c_str());
  }
  ~ControlProcess() {
    if (pid_ > 0) kill(pid_, SIGTERM);
  }
  const std::string& address() const { return address_; }

 private:
  std::string address_;
  int pid_ = 0;
};

struct Loop {
  std::string dir, address, report;
};

// One loop up to the retrain: its own control service, v1 trained on data A, production
// metric 0.5 reported (below 0.9) with data B, the retrain waited for.
void RunLoop(const std::string& dir, const std::string& data_b, double min_improvement,
             const std::string& mesh, ControlProcess& control, Loop& out) {
  ASSERT_FALSE(control.address().empty()) << ReadFile(dir + "/control.log");
  const std::string job = MeshJob(
      dir, "adder-job", mesh, "",
      fmt::format("train: {{global_batch: 16, steps: 30, lr: 1e-2, log_every: 10}}\n"
                  "eval: {{every: 0, batches: 1}}\ncheckpoint: {{store: file://{}/store, every: "
                  "10}}\ncontrol: {{endpoint: \"{}\", model: adder, promote: {{metric: eval_loss, "
                  "min_improvement: {}}}, retrain: {{metric: prod_accuracy, below: 0.9}}}}\n",
                  dir, control.address(), min_improvement));
  Result v1 = Meshtrain("run " + job + " --run-dir " + dir + "/v1");
  ASSERT_EQ(v1.exit_code, 0) << v1.output;
  ASSERT_THAT(v1.output, HasSubstr("registry: adder v1 -> production"));
  const std::string where = " --control " + control.address();
  Result fine = Meshtrain("registry report adder prod_accuracy 0.95" + where);
  EXPECT_THAT(fine.output, HasSubstr("prod_accuracy = 0.95 is not below 0.9"));
  Result low = Meshtrain("registry report adder prod_accuracy 0.5 --data " + data_b +
                         " --source monitor --wait" + where);
  ASSERT_EQ(low.exit_code, 0) << low.output << ReadFile(dir + "/runs/adder-retrain-1/retrain.log");
  out = {dir, control.address(), low.output};
}

TEST(ControlLoop, ProductionMetricRetrainsAndTheGateDecides) {
  const std::string dir = TinyDataset();  // data A: DIR/data
  ASSERT_FALSE(dir.empty());
  const std::string data_b = "file://" + dir + "/dataB";
  ASSERT_EQ(Meshtrain("data prepare --digits 2 --sample-len 13 --train-samples 512 "
                      "--eval-samples 64 --seed 7 --out " +
                      dir + "/dataB")
                .exit_code,
            0);
  for (const double margin : {0.0, 100.0}) {
    const std::string loop_dir = fmt::format("{}/loop-{}", dir, margin);
    fs::create_directories(loop_dir);
    fs::create_symlink(dir + "/data", loop_dir + "/data");
    ControlProcess control(loop_dir);
    Loop loop;
    // Two processes (metrics reach the service through the coordinator) or one (directly).
    const std::string mesh = margin == 0.0 ? "{dp: 2, tp: 1, pp: 1}" : "{dp: 1, tp: 1, pp: 1}";
    RunLoop(loop_dir, data_b, margin, mesh, control, loop);
    if (HasFailure()) break;
    const std::string where = " --control " + loop.address;
    EXPECT_THAT(loop.report,
                HasSubstr("prod_accuracy = 0.5 is below 0.9; fine-tuning v1 on " + data_b));
    EXPECT_THAT(loop.report, HasSubstr("succeeded, exit 0, registered v2"));
    Result show = Meshtrain("registry show adder@2" + where);
    EXPECT_THAT(show.output, HasSubstr("parent v1"));
    EXPECT_THAT(show.output, HasSubstr("data " + data_b + "#xxh64:"));
    EXPECT_THAT(show.output, HasSubstr("checkpoint file://" + loop_dir +
                                       "/runs/adder-retrain-1/checkpoints version 3"));
    Result list = Meshtrain("registry list" + where);
    if (margin == 0.0) {  // 30 more steps on new data: a lower eval loss
      EXPECT_THAT(show.output, HasSubstr("v2 promoted: eval_loss "));
      EXPECT_THAT(list.output, HasSubstr("adder                           2 production"));
    } else {
      EXPECT_THAT(show.output, HasSubstr("needs an improvement of 100: stays a candidate"));
      EXPECT_THAT(list.output, HasSubstr("adder                           1 production"));
      EXPECT_THAT(list.output, HasSubstr("adder                           2 staging"));
    }
    Result retrains = Meshtrain("registry retrains adder" + where);
    EXPECT_THAT(retrains.output, HasSubstr("retrain 1 of adder v1 on " + data_b + ": succeeded"));
    Result audit = Meshtrain("audit list" + where);
    for (const char* kind : {"data read", "checkpoint committed", "version registered", "promoted",
                             "threshold crossed", "retrain submitted", "retrain finished"}) {
      EXPECT_THAT(audit.output, HasSubstr(kind));
    }
    EXPECT_THAT(audit.output, HasSubstr("\"uri\":\"file://" + dir + "/dataB/train-00000.bin\""));
    // The training metrics of both jobs (v1 and its fine-tune) reached the service's sinks.
    int metric_files = 0;
    for (const auto& f : fs::directory_iterator(loop_dir + "/runs/metrics")) {
      EXPECT_THAT(ReadFile(f.path().string()), HasSubstr("\"loss\":")) << f.path();
      ++metric_files;
    }
    EXPECT_EQ(metric_files, 2);
    Result ok = Meshtrain("audit verify" + where);
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_THAT(ok.output, HasSubstr("audit chain ok"));
    if (margin == 0.0) continue;
    // Edit one record (the threshold crossing of 0.5) in the service's database: the service
    // names it.
    std::ofstream(loop_dir + "/edit.py")
        << "import sqlite3\nc = sqlite3.connect('" << loop_dir << "/control.db')\n"
        << "c.execute(\"UPDATE audit SET body = replace(body, '0.5', '0.95') WHERE kind = "
           "'threshold crossed' AND body LIKE '%\\\"value\\\":0.5%'\")\nc.commit()\n";
    const std::string edit = "python3 " + loop_dir + "/edit.py";
    ASSERT_EQ(std::system(edit.c_str()), 0);
    Result bad = Meshtrain("audit verify" + where);
    EXPECT_EQ(bad.exit_code, 1) << bad.output;
    EXPECT_THAT(bad.output, HasSubstr("audit chain BROKEN: "));
    EXPECT_THAT(bad.output, HasSubstr("(threshold crossed"));
  }
  fs::remove_all(dir);
}

}  // namespace
