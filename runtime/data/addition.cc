// Addition task generator (see addition.h).
#include "runtime/data/addition.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "fmt/format.h"
#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/data/writer.h"

namespace mt::data {
namespace {

constexpr int32_t kPad = 0;

// One packed sample of whole problems from the chosen split.
std::vector<int32_t> PackSample(std::mt19937_64& gen, const AdditionOptions& o, bool eval) {
  const int64_t limit = static_cast<int64_t>(std::pow(10, o.digits));
  std::uniform_int_distribution<int64_t> operand(0, limit - 1);
  std::vector<int32_t> tokens;
  while (true) {
    int64_t a, b;
    do {
      a = operand(gen);
      b = operand(gen);
    } while (IsEvalProblem(a, b, o.eval_fraction) != eval);
    const std::string text = AdditionProblem(a, b, o.digits, o.reverse_answer);
    if (static_cast<int64_t>(tokens.size() + text.size()) > o.sample_len) break;
    for (char ch : text) tokens.push_back(static_cast<unsigned char>(ch));
  }
  tokens.resize(o.sample_len, kPad);
  return tokens;
}

}  // namespace

std::string AdditionProblem(int64_t a, int64_t b, int digits, bool reverse_answer) {
  std::string sum = fmt::format("{:0{}d}", a + b, digits + 1);
  if (reverse_answer) std::reverse(sum.begin(), sum.end());
  return fmt::format("{:0{}d}+{:0{}d}={}\n", a, digits, b, digits, sum);
}

bool IsEvalProblem(int64_t a, int64_t b, double eval_fraction) {
  uint64_t h = static_cast<uint64_t>(a) * 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(b);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<double>(h % 1000000) < eval_fraction * 1e6;
}

absl::Status WriteAdditionDataset(const std::string& dir, const AdditionOptions& o) {
  const int64_t longest = 3 * o.digits + 4;  // "a+b=" and the sum, newline included
  if (o.digits < 1 || o.digits > 9 || o.sample_len < longest) {
    return absl::InvalidArgumentError(fmt::format(
        "addition task: digits must be 1..9 and sample_len >= {} (found digits {}, sample_len {})",
        longest, o.digits, o.sample_len));
  }
  if (o.eval_fraction <= 0 || o.eval_fraction >= 1) {
    return absl::InvalidArgumentError(
        fmt::format("addition task: eval_fraction must be in (0, 1) (found {})", o.eval_fraction));
  }
  if (o.train_samples < 1 || o.eval_samples < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "addition task: train_samples and eval_samples must be at least 1 (found {} and {})",
        o.train_samples, o.eval_samples));
  }
  MT_RETURN_IF_ERROR(MakeDirs(dir));
  DatasetIndex header;
  header.tokenizer = "byte";
  header.vocab_size = 256;
  header.sample_len = o.sample_len;
  header.answer = AnswerSpans{'=', '\n'};
  header.pad = kPad;
  DatasetWriter writer(dir, header, /*samples_per_shard=*/4096);
  std::mt19937_64 gen(o.seed);
  for (int64_t i = 0; i < o.train_samples; ++i) {
    MT_RETURN_IF_ERROR(writer.Add("train", PackSample(gen, o, false)));
  }
  for (int64_t i = 0; i < o.eval_samples; ++i) {
    MT_RETURN_IF_ERROR(writer.Add("eval", PackSample(gen, o, true)));
  }
  return writer.Finish();
}

}  // namespace mt::data
