// The model families a job can name (model.arch), behind the Model interface (model.h). Adding
// a family is one implementation of Model and one case in CreateModel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/nn/model.h"
#include "runtime/nn/placement.h"

namespace mt::nn {

// A model of `spec` (its arch and sizes) holding `placement`'s part, initialised from `seed`
// (the same values whatever the placement). InvalidArgument naming model.arch for an unknown
// family, or the sizes that do not divide over the placement.
absl::StatusOr<std::unique_ptr<Model>> CreateModel(const meshtrain::v1::ModelSpec& spec,
                                                   uint64_t seed, Placement placement = {});

// A model block with these sizes (d_ff 4 * d_model), for code that makes a model without a
// job file: benchmarks and tests.
struct ModelSizes {
  int64_t layers, heads, d_model, seq, vocab;
};
meshtrain::v1::ModelSpec SpecOf(const ModelSizes& sizes, const std::string& arch = "gpt");

}  // namespace mt::nn
