// Flag validators with readable messages. CLI11's PositiveNumber and NonNegativeNumber print
// their bound as DBL_MAX written out in full (over 300 digits); these say
// "--nproc: must be at least 1 (found 0)". A failed check is a parse error: exit 2.
#pragma once

#include <cstdint>

#include "CLI/CLI.hpp"

namespace mt::cli {

// An integer (or number) >= lo.
CLI::Validator AtLeast(double lo);
// A number in [lo, hi].
CLI::Validator Between(double lo, double hi);

// Makes every option added to `app` (and to subcommands added after this call) show its
// default in --help. Call first, on the root app.
void ShowDefaults(CLI::App& app);

}  // namespace mt::cli
