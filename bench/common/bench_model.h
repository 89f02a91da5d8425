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

using ModelSize = nn::ModelSizes;  // d_ff = 4 * d_model

// Exits with the reason when the sizes do not make a model (a benchmark's bad flags).
inline std::unique_ptr<nn::Model> MakeModel(const ModelSize& s, uint64_t seed,
                                            nn::Placement placement = {},
                                            const std::string& arch = "gpt") {
  const meshtrain::v1::ModelSpec spec = nn::SpecOf(s, arch);
  auto model = nn::CreateModel(spec, seed, std::move(placement));
  if (!model.ok()) {
    std::fprintf(stderr, "model: %s\n", model.status().ToString().c_str());
    std::exit(2);
  }
  return std::move(*model);
}

}  // namespace mt::bench
