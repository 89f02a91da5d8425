// YAML -> JSON conversion against a descriptor (see yaml_to_json.h).
#include "runtime/job/yaml_to_json.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "meshtrain/v1/options.pb.h"

namespace mt::job {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using json = nlohmann::json;

const meshtrain::v1::FieldDoc& Doc(const FieldDescriptor& f) {
  return f.options().GetExtension(meshtrain::v1::field);
}

int LineOf(const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

// What a node is, for the (found ...) part of a type error.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    default:
      return "nothing";
  }
}

bool IsYamlBool(const std::string& s, bool* value) {
  static const std::set<std::string> kTrue = {"true", "True", "TRUE"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE"};
  if (kTrue.count(s)) return *value = true, true;
  if (kFalse.count(s)) return *value = false, true;
  return false;
}

std::string Join(const std::string& path, const std::string& name) {
  return path.empty() ? name : absl::StrCat(path, ".", name);
}

class Converter {
 public:
  json Message(const YAML::Node& node, const Descriptor& d, const std::string& path);
  SourceLines lines;
  std::vector<Problem> problems;

 private:
  std::optional<json> Field(const YAML::Node& node, const FieldDescriptor& f,
                            const std::string& path);
  std::optional<json> Single(const YAML::Node& node, const FieldDescriptor& f,
                             const std::string& path);
  std::optional<json> Scalar(const YAML::Node& node, const FieldDescriptor& f,
                             const std::string& path);
  std::optional<json> Map(const YAML::Node& node, const FieldDescriptor& f,
                          const std::string& path);
  void Absent(json& obj, const FieldDescriptor& f, const std::string& path, int parent_line);
  void UnknownKey(const std::string& key, const Descriptor& d, const std::string& path, int line);
  void Add(const std::string& path, std::string what, std::string found, int line) {
    problems.push_back(Problem{path, std::move(what), std::move(found), line});
  }
};

json Converter::Message(const YAML::Node& node, const Descriptor& d, const std::string& path) {
  json obj = json::object();
  if (!node.IsMap() && !node.IsNull()) {
    Add(path.empty() ? "(root)" : path, "expected a mapping of keys", Describe(node), LineOf(node));
    return obj;
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); node.IsMap() && it != node.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : Describe(it->first);
    int line = LineOf(it->first);
    if (!seen.insert(key).second) {
      Add(Join(path, key), "duplicate key", Quote(key), line);
      continue;
    }
    const FieldDescriptor* f = d.FindFieldByName(key);
    if (f == nullptr) {
      UnknownKey(key, d, path, line);
      continue;
    }
    std::string fpath = Join(path, key);
    lines[fpath] = line;
    if (auto v = Field(it->second, *f, fpath)) obj[f->name()] = std::move(*v);
  }
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    if (!seen.count(f.name())) Absent(obj, f, Join(path, f.name()), LineOf(node));
  }
  return obj;
}

void Converter::UnknownKey(const std::string& key, const Descriptor& d, const std::string& path,
                           int line) {
  std::vector<std::string> names;
  for (int i = 0; i < d.field_count(); ++i) names.push_back(d.field(i)->name());
  std::string hint = ClosestName(key, names);
  std::string what =
      hint.empty() ? absl::StrCat("unknown field; expected one of ", absl::StrJoin(names, ", "))
                   : absl::StrCat("unknown field (did you mean '", hint, "'?)");
  Add(Join(path, key), what, Quote(key), line);
}

// A field that is not in the file: required -> problem; default -> filled in.
void Converter::Absent(json& obj, const FieldDescriptor& f, const std::string& path,
                       int parent_line) {
  const auto& doc = Doc(f);
  if (doc.required()) {
    Add(path, "required field is missing", "nothing", parent_line);
    return;
  }
  // No default: the proto3 zero value stands (empty string, 0, false, absent block).
  if (doc.default_value().empty() || f.is_repeated()) return;
  if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (doc.default_value() != "{}") return;  // optional block: stays absent
    obj[f.name()] = Message(YAML::Node(YAML::NodeType::Map), *f.message_type(), path);
    return;
  }
  // Defaults are YAML literals in job.proto; a test checks each one converts.
  YAML::Node def = YAML::Load(doc.default_value());
  if (auto v = Scalar(def, f, path)) obj[f.name()] = std::move(*v);
}

std::optional<json> Converter::Field(const YAML::Node& node, const FieldDescriptor& f,
                                     const std::string& path) {
  if (f.is_map()) return Map(node, f, path);
  if (!f.is_repeated()) return Single(node, f, path);
  if (!node.IsSequence()) {
    Add(path, "expected a list", Describe(node), LineOf(node));
    return std::nullopt;
  }
  json arr = json::array();
  for (size_t i = 0; i < node.size(); ++i) {
    std::string ipath = absl::StrCat(path, "[", i, "]");
    lines[ipath] = LineOf(node[i]);
    if (auto v = Single(node[i], f, ipath)) arr.push_back(std::move(*v));
  }
  return arr;
}

std::optional<json> Converter::Map(const YAML::Node& node, const FieldDescriptor& f,
                                   const std::string& path) {
  if (!node.IsMap()) {
    Add(path, "expected a mapping", Describe(node), LineOf(node));
    return std::nullopt;
  }
  const FieldDescriptor& value_field = *f.message_type()->map_value();
  json obj = json::object();
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    std::string kpath = absl::StrCat(path, "[", key, "]");
    if (auto v = Single(it->second, value_field, kpath)) obj[key] = std::move(*v);
  }
  return obj;
}

std::optional<json> Converter::Single(const YAML::Node& node, const FieldDescriptor& f,
                                      const std::string& path) {
  if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (!node.IsMap()) {
      Add(path, "expected a mapping of keys", Describe(node), LineOf(node));
      return std::nullopt;
    }
    return Message(node, *f.message_type(), path);
  }
  return Scalar(node, f, path);
}

std::optional<json> Converter::Scalar(const YAML::Node& node, const FieldDescriptor& f,
                                      const std::string& path) {
  const int line = LineOf(node);
  const bool plain = node.IsScalar() && node.Tag() != "!";  // "!" marks a quoted scalar
  const std::string text = node.IsScalar() ? node.Scalar() : "";
  auto fail = [&](std::string what) {
    Add(path, std::move(what), Describe(node), line);
    return std::nullopt;
  };
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      if (!node.IsScalar()) return fail("expected a string");
      const auto& choices = Doc(f).choices();
      if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
        return fail(
            absl::StrCat("unknown ", f.name(), "; expected one of ", absl::StrJoin(choices, ", ")));
      }
      return json(text);
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool b;
      if (!plain || !IsYamlBool(text, &b)) return fail("expected true or false");
      return json(b);
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      double d;
      if (!node.IsScalar() || !absl::SimpleAtod(text, &d) || !std::isfinite(d)) {
        return fail("expected a number");
      }
      return json(d);
    }
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      int64_t v;
      if (!node.IsScalar() || !absl::SimpleAtoi(text, &v)) return fail("expected an integer");
      bool narrow = f.cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
                    f.cpp_type() == FieldDescriptor::CPPTYPE_UINT32;
      if (narrow &&
          (v > std::numeric_limits<int32_t>::max() || v < std::numeric_limits<int32_t>::min())) {
        return fail("integer out of range");
      }
      return json(v);
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      if (!node.IsScalar() || f.enum_type()->FindValueByName(text) == nullptr) {
        return fail(absl::StrCat("unknown ", f.name()));
      }
      return json(text);
    }
    default:
      return fail("unsupported field type");
  }
}

}  // namespace

std::string ClosestName(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const std::string& c : candidates) {
    // Levenshtein distance, one row at a time.
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= name.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (name[i - 1] != c[j - 1])});
        diag = up;
      }
    }
    if (row[c.size()] < best_d) best_d = row[c.size()], best = c;
  }
  return best;
}

YamlToJsonResult YamlToJson(const YAML::Node& root, const Descriptor& descriptor) {
  Converter c;
  YamlToJsonResult r;
  r.json = c.Message(root, descriptor, "");
  r.lines = std::move(c.lines);
  r.problems = std::move(c.problems);
  return r;
}

}  // namespace mt::job
