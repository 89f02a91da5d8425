// Typed registry of MT_* environment parameters (NCCL style): declared once in params.def,
// read once, cached, and documented in one generated table.
//
// Thread safety: accessors are safe to call from any thread; the first call reads the
// environment. A malformed value falls back to the default; ValidateEnvironment() reports it
// (main calls it first, so a typo fails the process before any work starts).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mt::params {

enum class Type { kInt, kDouble, kBool, kString };

struct Info {
  std::string_view name;  // "MT_LOG_LEVEL"
  Type type;
  std::string_view default_text;  // the default, as written in the environment
  std::string_view doc;
};

// Every parameter, in params.def order.
std::span<const Info> All();

// Parses `text` as a value of `type` (Bool accepts 1/0, true/false, yes/no, on/off).
absl::StatusOr<int64_t> ParseInt(std::string_view text);
absl::StatusOr<double> ParseDouble(std::string_view text);
absl::StatusOr<bool> ParseBool(std::string_view text);

// Checks the current environment: every set MT_* parameter parses as its type and passes the
// check registered for it. The error names each bad variable, what was expected and the value.
absl::Status ValidateEnvironment();

// A check of a parameter's value beyond its type (MT_LOG_LEVEL's level names), registered by
// the module that interprets the value so the two never disagree; ValidateEnvironment runs it.
// The returned status's message says what was expected. Returns true (for static
// registration: `const bool kChecked = RegisterCheck(...)`).
using ValueCheck = absl::Status (*)(std::string_view value);
bool RegisterCheck(std::string_view name, ValueCheck check);

// MT_* variables in the environment that are not parameters (likely typos), for a warning.
std::vector<std::string> UnknownVariables();

// The Markdown table of all parameters, and the whole docs/parameters.md page around it.
std::string MarkdownTable();
std::string MarkdownDocument();

// Accessors, one per params.def line.
#define MT_PARAM_TYPE_Int int64_t
#define MT_PARAM_TYPE_Double double
#define MT_PARAM_TYPE_Bool bool
#define MT_PARAM_TYPE_String const std::string&
#define MT_PARAM(accessor, type, name, def, doc) MT_PARAM_TYPE_##type accessor();
#include "runtime/core/params.def"
#undef MT_PARAM

}  // namespace mt::params
