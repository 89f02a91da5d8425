// Resolved job summary (see summary.h).
#include "runtime/job/summary.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/job/validate.h"

namespace mt::job {

int64_t ParameterCount(const meshtrain::v1::ModelSpec& m) {
  const int64_t d = m.d_model(), f = m.d_ff() == 0 ? 4 * d : m.d_ff();
  const int64_t attention = 4 * d * d + 4 * d;  // QKV and output projections with biases
  const int64_t mlp = 2 * d * f + f + d;        // up and down projections with biases
  const int64_t norms = 4 * d;                  // two LayerNorms (scale and shift)
  const int64_t embeddings = int64_t{m.vocab_size()} * d + int64_t{m.seq_len()} * d;
  return embeddings + m.n_layer() * (attention + mlp + norms) + 2 * d;  // + final LayerNorm
}

double PipelineBubble(int stages, int micro_batches, int virtual_stages) {
  if (stages <= 1) return 0.0;
  double bubble = double(stages - 1) / double(micro_batches + stages - 1);
  return virtual_stages > 1 ? bubble / virtual_stages : bubble;
}

namespace {

std::string HumanCount(int64_t n) {
  if (n >= 1000000000) return absl::StrFormat("%.2fB", n / 1e9);
  if (n >= 1000000) return absl::StrFormat("%.2fM", n / 1e6);
  if (n >= 1000) return absl::StrFormat("%.1fK", n / 1e3);
  return absl::StrCat(n);
}

std::string ModelLine(const meshtrain::v1::ModelSpec& m) {
  return absl::StrFormat(
      "  model       %s n_layer=%d n_head=%d d_model=%d d_ff=%d seq_len=%d vocab=%d (%s "
      "parameters)\n",
      m.arch(), m.n_layer(), m.n_head(), m.d_model(), m.d_ff() ? m.d_ff() : 4 * m.d_model(),
      m.seq_len(), m.vocab_size(), HumanCount(ParameterCount(m)));
}

std::string ParallelLines(const meshtrain::v1::JobSpec& s, const LoadOptions& o) {
  const auto& mesh = s.mesh();
  const auto& p = s.parallel();
  const int64_t micro = s.train().global_batch() / (int64_t{mesh.dp()} * p.micro_batches());
  std::string out = absl::StrFormat(
      "  mesh        dp=%d tp=%d pp=%d -> world %d (rank order: tp fastest, then dp, then pp)\n",
      mesh.dp(), mesh.tp(), mesh.pp(), WorldSize(s, o));
  absl::StrAppendFormat(&out,
                        "  batch       global %d = dp %d x micro_batches %d x micro_batch %d; "
                        "%d tokens/step\n",
                        s.train().global_batch(), mesh.dp(), p.micro_batches(), micro,
                        int64_t{s.train().global_batch()} * s.model().seq_len());
  if (mesh.pp() > 1) {
    absl::StrAppendFormat(&out, "  pipeline    %s, %d stages, ~%.1f layers/stage, bubble %.1f%%\n",
                          p.schedule(), mesh.pp(), double(s.model().n_layer()) / mesh.pp(),
                          100 * PipelineBubble(mesh.pp(), p.micro_batches(), p.virtual_stages()));
  }
  absl::StrAppendFormat(&out, "  zero        %d, gradient buckets %g MiB\n", p.zero(),
                        p.bucket_mb());
  return out;
}

std::string TrainLine(const meshtrain::v1::TrainSpec& t) {
  return absl::StrFormat(
      "  train       %d steps, AdamW lr %g (%s, warmup %d, min %gx), clip %g, wd %g, %s, seed "
      "%d\n",
      t.steps(), t.lr(), t.schedule(), t.warmup(), t.min_lr_ratio(), t.clip(), t.weight_decay(),
      t.precision(), t.seed());
}

std::string StorageLines(const meshtrain::v1::JobSpec& s) {
  std::string out =
      absl::StrFormat("  data        %s (eval %g%%, shuffle seed %d)\n", s.data().uri(),
                      100 * s.data().eval_fraction(), s.data().shuffle_seed());
  if (s.has_checkpoint()) {
    const auto& c = s.checkpoint();
    absl::StrAppendFormat(&out, "  checkpoint  %s every %s, keep %d, %s\n", c.store(),
                          c.every() ? absl::StrCat(c.every(), " steps") : "end", c.keep_last(),
                          c.async() ? "async" : "sync");
  } else {
    out += "  checkpoint  none (no checkpoint block)\n";
  }
  absl::StrAppendFormat(&out, "  eval        every %s, %d x %d samples\n",
                        s.eval().every() ? absl::StrCat(s.eval().every(), " steps") : "end",
                        s.eval().batches(), s.train().global_batch());
  return out;
}

std::string ControlLine(const meshtrain::v1::JobSpec& s) {
  const auto& c = s.control();
  std::string out =
      absl::StrFormat("  control     %s, model %s, promote on %s (%s, by >= %g)", c.endpoint(),
                      c.model().empty() ? s.name() : c.model(), c.promote().metric(),
                      c.promote().mode(), c.promote().min_improvement());
  if (c.has_retrain()) {
    absl::StrAppendFormat(&out, ", retrain when %s < %g", c.retrain().metric(),
                          c.retrain().below());
  }
  if (s.has_finetune())
    absl::StrAppendFormat(&out, ", finetune %s (%s)", s.finetune().base(), s.finetune().method());
  return out + "\n";
}

}  // namespace

std::string Summarize(const meshtrain::v1::JobSpec& s, const LoadOptions& o) {
  const bool under_mpirun = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
  std::string out = absl::StrCat("job ", s.name(), "\n", ModelLine(s.model()), ParallelLines(s, o),
                                 TrainLine(s.train()), StorageLines(s), ControlLine(s));
  absl::StrAppendFormat(&out, "  backend     %s -> %s (device %s)\n", s.backend(),
                        ResolveBackend(s, under_mpirun), s.device());
  return out;
}

}  // namespace mt::job
