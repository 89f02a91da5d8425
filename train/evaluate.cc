// Evaluation (see evaluate.h).
#include "train/evaluate.h"

#include <algorithm>

#include "runtime/core/status.h"

namespace mt::train {
namespace {

int64_t CountedTargets(const Batch& b) {
  return std::count_if(b.targets.begin(), b.targets.end(), [](int32_t t) { return t >= 0; });
}

}  // namespace

std::pair<int64_t, int64_t> ScoreAnswerSpans(const Batch& batch, const int32_t* predictions,
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
        ok = predictions[b * batch.seq + p] == tgt[p];
      }
      correct += ok;
      ++total;
    }
  }
  return {correct, total};
}

EvalResult EvalSums::Result(bool has_answers) const {
  EvalResult r;
  r.loss = targets > 0 ? loss / static_cast<double>(targets) : 0;
  if (has_answers && answers > 0) r.accuracy = static_cast<double>(correct) / answers;
  r.answers = answers;
  return r;
}

absl::StatusOr<EvalSums> Evaluate(const EvalForward& forward, int64_t seq,
                                  const data::DatasetIndex& index,
                                  const std::vector<uint16_t>& table,
                                  const std::vector<int64_t>& picks, int64_t batch_size,
                                  int64_t batches, bool answers_only) {
  EvalSums r;
  if (picks.empty()) return r;
  Batch batch;
  int64_t next = 0;
  const int64_t len = index.sample_len;
  std::vector<uint16_t> samples(batch_size * len);
  for (int64_t i = 0; i < batches; ++i) {
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t at = picks[next++ % picks.size()];
      std::copy_n(table.data() + at * len, len, samples.data() + b * len);
    }
    BuildBatch(index, samples.data(), batch_size, seq, batch, answers_only);
    MT_ASSIGN_OR_RETURN(std::optional<EvalOutput> out, forward(batch));
    if (!out) continue;
    const int64_t counted = CountedTargets(batch);
    r.loss += static_cast<double>(out->loss) * counted;
    r.targets += counted;
    if (index.answer) {
      auto [c, t] = ScoreAnswerSpans(batch, out->predictions, *index.answer);
      r.correct += c;
      r.answers += t;
    }
  }
  return r;
}

}  // namespace mt::train
