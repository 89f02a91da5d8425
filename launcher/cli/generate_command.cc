// `meshtrain generate --run-dir DIR --prompt TEXT`: continue a prompt with a run's final model
// (RUN_DIR/model.safetensors), byte tokenizer, greedy unless --temperature > 0.
#include <cstdio>
#include <memory>
#include <string>

#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "train/model_io.h"

namespace mt::cli {
namespace {

struct GenerateArgs {
  std::string run_dir;
  std::string model;
  std::string prompt;
  train::GenerateOptions options;
  bool stop_at_newline = false;
};

int RunGenerate(const GenerateArgs& args) {
  const std::string path = args.model.empty() ? args.run_dir + "/model.safetensors" : args.model;
  auto model = train::LoadModel(path);
  if (!model.ok()) {
    std::fprintf(stderr, "meshtrain generate: %s\n", std::string(model.status().message()).c_str());
    return model.status().code() == absl::StatusCode::kNotFound ? kExitInvalid : kExitFailure;
  }
  std::vector<int32_t> prompt;
  for (unsigned char ch : args.prompt) {
    if (ch >= (*model)->dims().vocab_size) {
      std::fprintf(stderr, "--prompt: byte %u is outside the model's vocabulary\n", ch);
      return kExitInvalid;
    }
    prompt.push_back(ch);
  }
  train::GenerateOptions o = args.options;
  if (args.stop_at_newline) o.stop = '\n';
  std::string text;
  for (int32_t t : train::Generate(**model, prompt, o)) text.push_back(static_cast<char>(t));
  std::printf("%s%s%s", args.prompt.c_str(), text.c_str(),
              text.empty() || text.back() != '\n' ? "\n" : "");
  return kExitOk;
}

}  // namespace

Command AddGenerateCommand(CLI::App& root) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* app = root.add_subcommand("generate", "Sample text from a trained run");
  app->footer("Prints the prompt followed by its continuation (byte tokenizer).");
  auto* source = app->add_option_group("model source");
  source->add_option("--run-dir", args->run_dir, "Run directory holding model.safetensors");
  source->add_option("--model", args->model, "A model.safetensors file");
  source->require_option(1);
  app->add_option("--prompt", args->prompt, "Text to continue")->required();
  app->add_option("--max-tokens", args->options.max_tokens, "Tokens to generate")
      ->check(AtLeast(1));
  app->add_option("--temperature", args->options.temperature, "0: greedy; > 0: sample")
      ->check(AtLeast(0));
  app->add_option("--seed", args->options.seed, "Sampling seed");
  app->add_flag("--stop-at-newline", args->stop_at_newline, "Stop after the first newline");
  return Command{app, [args] { return RunGenerate(*args); }};
}

}  // namespace mt::cli
