// What every benchmark records next to its numbers: the commit, the host and when.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace mt::bench {

// {"commit": "abc1234" (or "unknown"), "host": "...", "time": "2026-11-29T00:00:00Z",
//  "cpus": N}
nlohmann::json RunInfo();

}  // namespace mt::bench
