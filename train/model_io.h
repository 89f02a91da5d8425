// The final model of a run: RUN_DIR/model.safetensors holds every parameter (meshtrain names)
// and, in its metadata, the job spec as JSON, so the file alone rebuilds the model.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "meshtrain/v1/job.pb.h"
#include "runtime/nn/model.h"

namespace mt::train {

absl::Status SaveModel(const std::string& path, nn::Model& model,
                       const meshtrain::v1::JobSpec& spec, int64_t step);

// Loads a saved model; errors name the file and the missing or mismatched tensor.
absl::StatusOr<std::unique_ptr<nn::Model>> LoadModel(const std::string& path);
// Copies the weights of a model.safetensors into `model`, each rank taking its tensor-parallel
// slice of the tensors it holds. DataLoss naming the tensor when one is missing or misshapen.
absl::Status LoadWeights(const std::string& path, nn::Model& model);

struct GenerateOptions {
  int64_t max_tokens = 32;
  double temperature = 0;       // 0: greedy
  uint64_t seed = 1;            // for temperature > 0
  std::optional<int32_t> stop;  // stop after emitting this token
};

// Continues `prompt` (non-empty, tokens < vocab). The context is cropped to the last seq_len
// tokens. Returns only the new tokens.
std::vector<int32_t> Generate(nn::Model& model, std::vector<int32_t> prompt,
                              const GenerateOptions& options);

}  // namespace mt::train
