// MT_* environment parameters (see params.h and params.def).
#include "runtime/core/params.h"

#include <cstdlib>
#include <cstring>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "runtime/core/text.h"

extern char** environ;

namespace mt::params {
namespace {

#define MT_PARAM_ENUM_Int Type::kInt
#define MT_PARAM_ENUM_Double Type::kDouble
#define MT_PARAM_ENUM_Bool Type::kBool
#define MT_PARAM_ENUM_String Type::kString
// Defaults are stringified so the table shows exactly what is written in params.def.
constexpr Info kInfos[] = {
#define MT_PARAM(accessor, type, name, def, doc) {name, MT_PARAM_ENUM_##type, #def, doc},
#include "runtime/core/params.def"
#undef MT_PARAM
};

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kInt:
      return "int";
    case Type::kDouble:
      return "double";
    case Type::kBool:
      return "bool";
    case Type::kString:
      return "string";
  }
  return "?";
}

// The default as a user would write it: string defaults lose their quotes.
std::string DefaultText(const Info& info) {
  std::string_view d = info.default_text;
  if (d.size() >= 2 && d.front() == '"' && d.back() == '"') d = d.substr(1, d.size() - 2);
  return std::string(d);
}

// Checks registered by the modules that read the values (RegisterCheck).
std::vector<std::pair<std::string_view, ValueCheck>>& Checks() {
  static std::vector<std::pair<std::string_view, ValueCheck>> checks;
  return checks;
}

absl::Status CheckValue(const Info& info, std::string_view value) {
  absl::Status st;
  switch (info.type) {
    case Type::kInt:
      st = ParseInt(value).status();
      break;
    case Type::kDouble:
      st = ParseDouble(value).status();
      break;
    case Type::kBool:
      st = ParseBool(value).status();
      break;
    case Type::kString:
      break;
  }
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: expected {} (found \"{}\")", info.name, TypeName(info.type), value));
  }
  for (const auto& [name, check] : Checks()) {
    if (name != info.name) continue;
    if (absl::Status c = check(value); !c.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("{}: {} (found \"{}\")", info.name, std::string(c.message()), value));
    }
  }
  return absl::OkStatus();
}

// Reads one variable: the parsed value, or the default when unset or malformed.
template <typename T, typename Parse>
T Read(const char* name, T def, Parse parse) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return def;
  auto parsed = parse(v);
  return parsed.ok() ? *parsed : def;
}

}  // namespace

std::span<const Info> All() { return kInfos; }

bool RegisterCheck(std::string_view name, ValueCheck check) {
  Checks().emplace_back(name, check);
  return true;
}

absl::StatusOr<int64_t> ParseInt(std::string_view text) {
  if (auto v = text::ToInt(text)) return *v;
  return absl::InvalidArgumentError(fmt::format("not an integer: \"{}\"", text));
}

absl::StatusOr<double> ParseDouble(std::string_view text) {
  if (auto v = text::ToDouble(text)) return *v;
  return absl::InvalidArgumentError(fmt::format("not a number: \"{}\"", text));
}

absl::StatusOr<bool> ParseBool(std::string_view text) {
  std::string t = text::Lower(text::Trim(text));
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  return absl::InvalidArgumentError(fmt::format("not a boolean: \"{}\"", text));
}

absl::Status ValidateEnvironment() {
  std::vector<std::string> errors;
  for (const Info& info : kInfos) {
    std::string name(info.name);
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') continue;
    absl::Status st = CheckValue(info, v);
    if (!st.ok()) errors.emplace_back(st.message());
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format("{}", fmt::join(errors, "\n")));
}

std::vector<std::string> UnknownVariables() {
  std::vector<std::string> unknown;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.substr(0, 3) != "MT_") continue;
    std::string_view name = kv.substr(0, kv.find('='));
    bool known = false;
    for (const Info& info : kInfos) known = known || info.name == name;
    if (!known) unknown.emplace_back(name);
  }
  return unknown;
}

std::string MarkdownTable() {
  std::string out = "| Variable | Type | Default | Meaning |\n|---|---|---|---|\n";
  for (const Info& info : kInfos) {
    out += fmt::format("| `{}` | {} | `{}` | {} |\n", info.name, TypeName(info.type),
                       DefaultText(info), info.doc);
  }
  return out;
}

std::string MarkdownDocument() {
  return "# Environment parameters\n\n"
         "<!-- Generated from runtime/core/params.def by `meshtrain docs params`. Do not edit:\n"
         "     change params.def, then run scripts/gen-docs.sh. A test checks they match. -->\n\n"
         "Every `MT_*` variable meshtrain reads, read once at first use. A malformed value makes\n"
         "`meshtrain` exit 2 before doing any work; an unknown `MT_*` name is warned about.\n\n" +
         MarkdownTable();
}

// Accessors: a function-local static makes the read happen once, thread-safely.
#define MT_PARAM_READ_Int(name, def) Read<int64_t>(name, def, ParseInt)
#define MT_PARAM_READ_Double(name, def) Read<double>(name, def, ParseDouble)
#define MT_PARAM_READ_Bool(name, def) Read<bool>(name, def, ParseBool)
#define MT_PARAM_READ_String(name, def)               \
  [] {                                                \
    const char* v = std::getenv(name);                \
    return std::string(v != nullptr && *v ? v : def); \
  }()
#define MT_PARAM(accessor, type, name, def, doc)               \
  MT_PARAM_TYPE_##type accessor() {                            \
    static const auto value = MT_PARAM_READ_##type(name, def); \
    return value;                                              \
  }
#include "runtime/core/params.def"
#undef MT_PARAM

}  // namespace mt::params
