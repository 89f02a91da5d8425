// The model families (see models.h).
#include "runtime/nn/models.h"

#include "fmt/format.h"
#include "runtime/core/status.h"
#include "runtime/nn/gpt.h"

namespace mt::nn {

absl::StatusOr<std::unique_ptr<Model>> CreateModel(const meshtrain::v1::ModelSpec& spec,
                                                   uint64_t seed, Placement placement) {
  const std::string arch = spec.arch().empty() ? "gpt" : spec.arch();
  if (arch == "gpt") {
    MT_ASSIGN_OR_RETURN(std::unique_ptr<Gpt> gpt,
                        Gpt::Create(GptConfig::FromSpec(spec), seed, std::move(placement)));
    return std::unique_ptr<Model>(std::move(gpt));
  }
  return absl::InvalidArgumentError(
      fmt::format("model.arch: '{}' is not a model family meshtrain has (gpt)", arch));
}

}  // namespace mt::nn
