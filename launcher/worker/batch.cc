// Batch assembly (see batch.h).
#include "launcher/worker/batch.h"

#include "runtime/core/status.h"

namespace mt::worker {

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

void BuildBatch(const data::Dataset& ds, const std::string& split,
                const std::vector<int64_t>& indices, int64_t seq, Batch& out, bool answers_only) {
  MT_CHECK(!answers_only || ds.index().answer.has_value());
  out.batch = static_cast<int64_t>(indices.size());
  out.seq = seq;
  out.tokens.resize(out.batch * seq);
  out.targets.resize(out.batch * seq);
  std::vector<int32_t> sample(ds.index().sample_len);
  const int32_t pad = ds.index().pad.value_or(-1);
  for (int64_t b = 0; b < out.batch; ++b) {
    ds.Sample(split, indices[b], sample.data());
    for (int64_t t = 0; t < seq; ++t) {
      out.tokens[b * seq + t] = sample[t];
      out.targets[b * seq + t] = sample[t + 1] == pad ? -1 : sample[t + 1];
    }
    if (answers_only) {
      MaskToAnswers(out.tokens.data() + b * seq, out.targets.data() + b * seq, seq,
                    *ds.index().answer);
    }
  }
}

}  // namespace mt::worker
