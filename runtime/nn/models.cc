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

meshtrain::v1::ModelSpec SpecOf(const ModelSizes& s, const std::string& arch) {
  meshtrain::v1::ModelSpec spec;
  spec.set_arch(arch);
  spec.set_n_layer(static_cast<int32_t>(s.layers));
  spec.set_n_head(static_cast<int32_t>(s.heads));
  spec.set_d_model(static_cast<int32_t>(s.d_model));
  spec.set_seq_len(static_cast<int32_t>(s.seq));
  spec.set_vocab_size(static_cast<int32_t>(s.vocab));
  return spec;
}

}  // namespace mt::nn
