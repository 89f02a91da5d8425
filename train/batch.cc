// Batch assembly (see batch.h).
#include "train/batch.h"

#include "runtime/core/status.h"

namespace mt::train {

void MaskToAnswers(const int32_t* tokens, int32_t* targets, int64_t seq,
                   const data::AnswerSpans& spans) {
  bool inside = false;
  for (int64_t t = 0; t < seq; ++t) {
    inside = inside || tokens[t] == spans.begin;
    const bool ends = targets[t] == spans.end;
    if (!inside) targets[t] = -1;
    if (ends) inside = false;
  }
}

void BuildBatch(const data::DatasetIndex& index, const uint16_t* samples, int64_t count,
                int64_t seq, Batch& out, bool answers_only) {
  MT_CHECK(!answers_only || index.answer.has_value());
  MT_CHECK(seq + 1 <= index.sample_len);
  out.batch = count;
  out.seq = seq;
  out.tokens.resize(out.batch * seq);
  out.targets.resize(out.batch * seq);
  const int32_t pad = index.pad.value_or(-1);
  for (int64_t b = 0; b < out.batch; ++b) {
    const uint16_t* sample = samples + b * index.sample_len;
    for (int64_t t = 0; t < seq; ++t) {
      out.tokens[b * seq + t] = sample[t];
      out.targets[b * seq + t] = sample[t + 1] == pad ? -1 : sample[t + 1];
    }
    if (answers_only) {
      MaskToAnswers(out.tokens.data() + b * seq, out.targets.data() + b * seq, seq, *index.answer);
    }
  }
}

}  // namespace mt::train
