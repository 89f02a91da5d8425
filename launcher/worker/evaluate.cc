// Evaluation (see evaluate.h).
#include "launcher/worker/evaluate.h"

#include <algorithm>

namespace mt::worker {
namespace {

int32_t Argmax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t v = 1; v < n; ++v) best = row[v] > row[best] ? v : best;
  return static_cast<int32_t>(best);
}

}  // namespace

std::pair<int64_t, int64_t> ScoreAnswerSpans(const Batch& batch, const float* logits, int64_t vocab,
                                             const data::AnswerSpans& spans) {
  int64_t correct = 0, total = 0;
  for (int64_t b = 0; b < batch.batch; ++b) {
    const int32_t* tok = batch.tokens.data() + b * batch.seq;
    const int32_t* tgt = batch.targets.data() + b * batch.seq;
    for (int64_t t = 0; t < batch.seq; ++t) {
      if (tok[t] != spans.begin) continue;
      // The answer is tgt[t], tgt[t+1], ... up to and including the end token.
      int64_t e = t;
      while (e < batch.seq && tgt[e] >= 0 && tgt[e] != spans.end) ++e;
      if (e >= batch.seq || tgt[e] != spans.end) continue;  // span cut by the sample's end
      bool ok = true;
      for (int64_t p = t; p <= e && ok; ++p) {
        ok = Argmax(logits + (b * batch.seq + p) * vocab, vocab) == tgt[p];
      }
      correct += ok;
      ++total;
    }
  }
  return {correct, total};
}

EvalResult Evaluate(nn::Gpt& model, const data::DatasetIndex& index,
                    const std::vector<uint16_t>& table, const std::vector<int64_t>& picks,
                    int64_t batch_size, int64_t batches, bool answers_only) {
  EvalResult r;
  if (picks.empty()) return r;
  Batch batch;
  double loss_sum = 0;
  int64_t correct = 0, total = 0, next = 0;
  const auto& answer = index.answer;
  const int64_t len = index.sample_len;
  std::vector<uint16_t> samples(batch_size * len);
  for (int64_t i = 0; i < batches; ++i) {
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t at = picks[next++ % picks.size()];
      std::copy_n(table.data() + at * len, len, samples.data() + b * len);
    }
    BuildBatch(index, samples.data(), batch_size, model.config().seq_len, batch, answers_only);
    loss_sum += model.Forward(batch.tokens.data(), batch.targets.data(), batch.batch, batch.seq);
    if (answer) {
      auto [c, t] = ScoreAnswerSpans(batch, model.logits(), model.config().vocab_size, *answer);
      correct += c;
      total += t;
    }
  }
  r.loss = loss_sum / batches;
  if (answer && total > 0) r.accuracy = double(correct) / total;
  r.answers = total;
  return r;
}

}  // namespace mt::worker
