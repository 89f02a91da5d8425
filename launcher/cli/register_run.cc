// Registering a finished run (see register_run.h).
#include "launcher/cli/register_run.h"

#include <filesystem>

#include "checkpoint/store/store.h"
#include "control/service/open.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/core/hash.h"
#include "runtime/core/status.h"
#include "runtime/data/dataset.h"
#include "runtime/job/job_id.h"
#include "runtime/storage/blob_store.h"

namespace mt::cli {
namespace {

using json = nlohmann::json;

// What the run produced: the latest committed checkpoint, else the exported model file.
absl::Status FillCheckpoint(const meshtrain::v1::JobSpec& spec, const std::string& run_dir,
                            control::VersionInfo& v) {
  if (spec.has_checkpoint()) {
    MT_ASSIGN_OR_RETURN(auto store, ckpt::CheckpointStore::Open(spec.checkpoint().store()));
    MT_ASSIGN_OR_RETURN(v.checkpoint_version, store->Latest());
    v.checkpoint_uri = store->uri();
    return absl::OkStatus();
  }
  v.checkpoint_uri =
      "file://" +
      std::filesystem::absolute(run_dir + "/model.safetensors").lexically_normal().string();
  return absl::OkStatus();
}

}  // namespace

std::optional<std::string> RegisteredAs(const json& summary) {
  if (!summary.is_object() || !summary.contains("registry")) return std::nullopt;
  const json& r = summary["registry"];
  return fmt::format("{} v{}", r.value("model", "?"), r.value("version", int64_t{0}));
}

absl::StatusOr<std::string> RegisterRun(const meshtrain::v1::JobSpec& spec,
                                        const std::string& run_dir) {
  const std::string summary_path = run_dir + "/summary.json";
  MT_ASSIGN_OR_RETURN(std::string text, ReadFile(summary_path));
  json summary = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (summary.is_discarded()) return absl::DataLossError(summary_path + ": not JSON");
  // Registered once: a run that trains writes a new summary.json (without this entry), so an
  // entry means this summary's model is in the registry already (a run found complete, a
  // rank that registers again).
  if (auto registered = RegisteredAs(summary)) {
    return "registry: already registered as " + *registered;
  }
  MT_ASSIGN_OR_RETURN(auto registry, control::OpenControl(spec.control(), run_dir));
  control::VersionInfo v;
  v.model = spec.control().model().empty() ? spec.name() : spec.control().model();
  if (spec.has_finetune()) {  // lineage: a new version of the base's model, its child
    MT_ASSIGN_OR_RETURN(control::VersionInfo base, registry->Resolve(spec.finetune().base()));
    v.model = base.model;
    v.parent = base.version;
  }
  MT_RETURN_IF_ERROR(FillCheckpoint(spec, run_dir, v));
  v.metrics["loss"] = summary.value("final_loss", 0.0);
  for (const char* k : {"eval_loss", "eval_accuracy", "tokens_per_s"}) {
    if (summary.contains(k)) v.metrics[k] = summary[k].get<double>();
  }
  MT_ASSIGN_OR_RETURN(v.data_fingerprint, data::Fingerprint(spec.data().uri()));
  v.job_hash = job::JobId(spec);
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;  // the job file's names: a retrain runs it again
  if (!google::protobuf::util::MessageToJsonString(spec, &v.job_json, print).ok()) {
    return absl::InternalError("cannot serialise the job spec");
  }
  MT_ASSIGN_OR_RETURN(v, registry->Register(v));
  json entry = {{"model", v.model}, {"version", v.version}, {"control", registry->where()}};
  std::string line;
  auto decision =
      registry->Evaluate(v.model, v.version, control::Policy::FromSpec(spec.control().promote()));
  if (decision.ok()) {
    entry["decision"] = decision->outcome;
    entry["reason"] = decision->reason;
    line = fmt::format("registry: {} v{}{} {} ({})", v.model, v.version,
                       v.parent ? fmt::format(" (fine-tuned from v{})", *v.parent) : "",
                       decision->outcome == "promoted" ? "-> production" : "-> staging",
                       decision->reason);
  } else {
    entry["decision"] = "not judged";
    entry["reason"] = std::string(decision.status().message());
    line = fmt::format("registry: {} v{} registered, not judged: {}", v.model, v.version,
                       std::string(decision.status().message()));
  }
  summary["registry"] = entry;
  MT_RETURN_IF_ERROR(WriteFileAtomic(summary_path, summary.dump(2) + "\n"));
  return line;
}

}  // namespace mt::cli
