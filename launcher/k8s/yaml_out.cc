// JSON values as a YAML stream (see render.h ToYaml).
#include "launcher/k8s/render.h"
#include "yaml-cpp/yaml.h"

namespace mt::k8s {
namespace {

void Emit(YAML::Emitter& out, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key << k << YAML::Value;
        Emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) Emit(out, v);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      // Multi-line text (the job file) as a literal block; every other string quoted, so
      // "1" or "true" stay strings.
      if (s.find('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else {
        out << YAML::DoubleQuoted << s;
      }
      break;
    }
    case nlohmann::json::value_t::boolean:
      out << j.get<bool>();
      break;
    case nlohmann::json::value_t::number_integer:
      out << j.get<int64_t>();
      break;
    case nlohmann::json::value_t::number_unsigned:
      out << j.get<uint64_t>();
      break;
    case nlohmann::json::value_t::number_float:
      out << j.get<double>();
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

std::string ToYaml(const std::vector<nlohmann::json>& objects) {
  std::string text;
  for (const nlohmann::json& o : objects) {
    YAML::Emitter out;
    Emit(out, o);
    text += "---\n";
    text += out.c_str();
    text += "\n";
  }
  return text;
}

}  // namespace mt::k8s
