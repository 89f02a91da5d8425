// Manifest JSON (see manifest.h).
#include "checkpoint/store/manifest.h"

#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace mt::ckpt {
namespace {

using json = nlohmann::json;
constexpr char kFormat[] = "meshtrain.checkpoint.manifest";

}  // namespace

std::string ManifestToJson(const Manifest& m) {
  json files = json::array();
  for (const FileEntry& f : m.files) {
    files.push_back({{"name", f.name},
                     {"rank", f.rank},
                     {"bytes", f.bytes},
                     {"xxh64", f.xxh64},
                     {"tensors", f.tensors}});
  }
  json j = {{"format", kFormat},
            {"version", m.version},
            {"step", m.step},
            {"parent", m.parent},
            {"optimizer_step", m.optimizer_step},
            {"cursor", m.cursor},
            {"mesh", m.mesh},
            {"world_size", m.world_size},
            {"job_hash", m.job_hash},
            {"metrics", m.metrics},
            {"created", m.created},
            {"job", m.job},
            {"files", files}};
  return j.dump(2) + "\n";
}

absl::StatusOr<Manifest> ManifestFromJson(const std::string& text, const std::string& source) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", "") != kFormat) {
    return absl::DataLossError(fmt::format("{}: not a checkpoint manifest", source));
  }
  Manifest m;
  try {
    m.version = j.at("version").get<int64_t>();
    m.step = j.at("step").get<int64_t>();
    m.parent = j.at("parent").get<int64_t>();
    m.optimizer_step = j.at("optimizer_step").get<int64_t>();
    m.cursor = j.at("cursor").get<int64_t>();
    m.mesh = j.at("mesh").get<std::vector<int64_t>>();
    m.world_size = j.at("world_size").get<int64_t>();
    m.job_hash = j.at("job_hash").get<std::string>();
    m.metrics = j.at("metrics").get<std::map<std::string, double>>();
    m.created = j.at("created").get<std::string>();
    m.job = j.value("job", "");
    for (const json& f : j.at("files")) {
      m.files.push_back({f.at("name").get<std::string>(), f.at("rank").get<int64_t>(),
                         f.at("bytes").get<int64_t>(), f.at("xxh64").get<std::string>(),
                         f.at("tensors").get<std::vector<std::string>>()});
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(fmt::format("{}: {}", source, e.what()));
  }
  if (m.mesh.size() != 3 || m.files.empty()) {
    return absl::DataLossError(
        fmt::format("{}: mesh must have 3 entries and files at least one", source));
  }
  return m;
}

}  // namespace mt::ckpt
