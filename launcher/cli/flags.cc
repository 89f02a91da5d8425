// Readable flag validators (see flags.h).
#include "launcher/cli/flags.h"

#include <cstdlib>
#include <optional>
#include <string>

#include "fmt/format.h"

namespace mt::cli {
namespace {

// The value as a number, or nullopt when it is not one (CLI11 then reports the type).
std::optional<double> Number(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') return std::nullopt;
  return v;
}

}  // namespace

CLI::Validator AtLeast(double lo) {
  return CLI::Validator(
      [lo](std::string& text) -> std::string {
        const auto v = Number(text);
        if (!v) return fmt::format("expected a number (found '{}')", text);
        if (*v < lo) return fmt::format("must be at least {} (found {})", lo, text);
        return "";
      },
      fmt::format(">={}", lo), "AtLeast");
}

CLI::Validator Between(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        const auto v = Number(text);
        if (!v) return fmt::format("expected a number (found '{}')", text);
        if (*v < lo || *v > hi) {
          return fmt::format("must be between {} and {} (found {})", lo, hi, text);
        }
        return "";
      },
      fmt::format("{}..{}", lo, hi), "Between");
}

void ShowDefaults(CLI::App& app) { app.option_defaults()->always_capture_default(); }

}  // namespace mt::cli
