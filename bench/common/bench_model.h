// The model a benchmark trains, made as the engine makes one: a job's model block through
// nn::CreateModel (runtime/nn/models.h), so benchmarks measure what jobs run.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "meshtrain/v1/job.pb.h"
#include "runtime/nn/models.h"

namespace mt::bench {

struct ModelSize {
  int64_t layers, heads, d_model, seq, vocab;  // d_ff = 4 * d_model
};

// Exits with the reason when the sizes do not make a model (a benchmark's bad flags).
inline std::unique_ptr<nn::Model> MakeModel(const ModelSize& s, uint64_t seed,
                                            nn::Placement placement = {},
                                            const std::string& arch = "gpt") {
  meshtrain::v1::ModelSpec spec;
  spec.set_arch(arch);
  spec.set_n_layer(static_cast<int32_t>(s.layers));
  spec.set_n_head(static_cast<int32_t>(s.heads));
  spec.set_d_model(static_cast<int32_t>(s.d_model));
  spec.set_seq_len(static_cast<int32_t>(s.seq));
  spec.set_vocab_size(static_cast<int32_t>(s.vocab));
  auto model = nn::CreateModel(spec, seed, std::move(placement));
  if (!model.ok()) {
    std::fprintf(stderr, "model: %s\n", model.status().ToString().c_str());
    std::exit(2);
  }
  return std::move(*model);
}

}  // namespace mt::bench
