// `meshtrain data prepare ...`: build datasets in the index + shards format.
#include <cstdio>
#include <memory>
#include <string>

#include "launcher/cli/commands.h"
#include "runtime/data/addition.h"
#include "runtime/data/dataset.h"

namespace mt::cli {
namespace {

struct PrepareArgs {
  std::string task = "addition";
  std::string out;
  data::AdditionOptions addition;
  bool no_reverse = false;
};

int RunPrepare(PrepareArgs args) {
  args.addition.reverse_answer = !args.no_reverse;
  absl::Status st = data::WriteAdditionDataset(args.out, args.addition);
  if (!st.ok()) {
    std::fprintf(stderr, "meshtrain data prepare: %s\n", std::string(st.message()).c_str());
    return st.code() == absl::StatusCode::kInvalidArgument ? kExitInvalid : kExitFailure;
  }
  auto ds = data::Dataset::Open(args.out);  // re-read: proves the index and checksums
  if (!ds.ok()) {
    std::fprintf(stderr, "meshtrain data prepare: %s\n",
                 std::string(ds.status().message()).c_str());
    return kExitFailure;
  }
  std::printf(
      "wrote %s: %ld train + %ld eval samples of %ld tokens in %zu shards (task %s, %d "
      "digits%s)\n",
      args.out.c_str(), static_cast<long>(ds->Samples("train")),
      static_cast<long>(ds->Samples("eval")), static_cast<long>(ds->index().sample_len),
      ds->index().shards.size(), args.task.c_str(), args.addition.digits,
      args.addition.reverse_answer ? ", answers reversed" : "");
  return kExitOk;
}

}  // namespace

Command AddDataCommand(CLI::App& root) {
  auto args = std::make_shared<PrepareArgs>();
  CLI::App* data = root.add_subcommand("data", "Prepare datasets");
  data->require_subcommand(1);
  CLI::App* prepare = data->add_subcommand("prepare", "Write a dataset (index.json + shards)");
  prepare->footer(
      "--task addition: integer addition as byte-tokenised text, zero-padded ('482+037=9150\\n': "
      "the sum written least-significant digit first unless --no-reverse), packed into samples of "
      "--sample-len tokens (model seq_len + 1), with a disjoint held-out problem set as the "
      "eval split.");
  prepare->add_option("--task", args->task, "Synthetic task")->check(CLI::IsMember({"addition"}));
  prepare->add_option("--out", args->out, "Output directory")->required();
  prepare->add_option("--digits", args->addition.digits, "Operand digits (1-9)");
  prepare->add_option("--train-samples", args->addition.train_samples, "Training samples");
  prepare->add_option("--eval-samples", args->addition.eval_samples, "Held-out samples");
  prepare->add_option("--sample-len", args->addition.sample_len, "Tokens per sample");
  prepare->add_option("--seed", args->addition.seed, "Generator seed");
  prepare->add_flag("--no-reverse", args->no_reverse, "Write sums most-significant digit first");
  return Command{data, [args] { return RunPrepare(*args); }};
}

}  // namespace mt::cli
