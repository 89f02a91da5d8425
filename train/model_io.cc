// Saving, loading and sampling the final model (see model_io.h).
#include "train/model_io.h"

#include <cmath>
#include <cstring>
#include <random>

#include "checkpoint/export/safetensors.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/core/status.h"
#include "runtime/nn/models.h"

namespace mt::train {

absl::Status SaveModel(const std::string& path, nn::Model& model,
                       const meshtrain::v1::JobSpec& spec, int64_t step) {
  std::vector<ckpt::NamedTensor> tensors;
  for (nn::Parameter* p : model.Parameters()) tensors.push_back({p->name, &p->value});
  std::string job;
  auto st = google::protobuf::util::MessageToJsonString(spec, &job);
  if (!st.ok()) return absl::InternalError("cannot serialise the job spec");
  return ckpt::WriteSafetensors(
      path, tensors, {{"format", "meshtrain.model"}, {"step", std::to_string(step)}, {"job", job}});
}

namespace {

// Every parameter `model` holds from `file` (its tensor-parallel slice of the whole tensor).
absl::Status CopyWeights(const ckpt::SafetensorsFile& file, const std::string& path,
                         nn::Model& model) {
  const nn::Placement& at = model.placement();
  for (nn::Parameter* p : model.Parameters()) {
    auto it = file.tensors.find(p->name);
    if (it == file.tensors.end()) {
      return absl::DataLossError(fmt::format("{}: tensor {} is missing", path, p->name));
    }
    const Shape full = nn::GlobalShape(p->value.shape(), p->partition, at.tp);
    if (it->second.shape() != full) {
      return absl::DataLossError(fmt::format("{}: tensor {} is {}, the model needs {}", path,
                                             p->name, it->second.Describe(),
                                             Tensor::Zeros(full).Describe()));
    }
    nn::TakeSlice(it->second, p->value, p->partition, at.tp, at.tp_rank);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<nn::Model>> LoadModel(const std::string& path) {
  MT_ASSIGN_OR_RETURN(ckpt::SafetensorsFile file, ckpt::ReadSafetensors(path));
  meshtrain::v1::JobSpec spec;
  if (!file.metadata.count("job") ||
      !google::protobuf::util::JsonStringToMessage(file.metadata["job"], &spec).ok()) {
    return absl::InvalidArgumentError(fmt::format("{}: no meshtrain job in its metadata", path));
  }
  auto model = nn::CreateModel(spec.model(), 0);
  if (!model.ok()) return Annotate(model.status(), path);
  MT_RETURN_IF_ERROR(CopyWeights(file, path, **model));
  return std::move(*model);
}

absl::Status LoadWeights(const std::string& path, nn::Model& model) {
  MT_ASSIGN_OR_RETURN(ckpt::SafetensorsFile file, ckpt::ReadSafetensors(path));
  return CopyWeights(file, path, model);
}

std::vector<int32_t> Generate(nn::Model& model, std::vector<int32_t> context,
                              const GenerateOptions& o) {
  std::mt19937_64 gen(o.seed);
  std::vector<int32_t> out;
  const int64_t vocab = model.dims().vocab_size, limit = model.dims().seq_len;
  for (int64_t i = 0; i < o.max_tokens && !context.empty(); ++i) {
    const int64_t seq = std::min<int64_t>(context.size(), limit);
    const std::vector<float> next_logits =
        model.NextTokenLogits(context.data() + context.size() - seq, seq);
    const float* logits = next_logits.data();
    int32_t next = 0;
    if (o.temperature <= 0) {
      for (int64_t v = 1; v < vocab; ++v) next = logits[v] > logits[next] ? v : next;
    } else {
      std::vector<double> w(vocab);
      const double max = *std::max_element(logits, logits + vocab);
      for (int64_t v = 0; v < vocab; ++v) w[v] = std::exp((logits[v] - max) / o.temperature);
      next = static_cast<int32_t>(std::discrete_distribution<int64_t>(w.begin(), w.end())(gen));
    }
    out.push_back(next);
    context.push_back(next);
    if (o.stop && next == *o.stop) break;
  }
  return out;
}

}  // namespace mt::train
