// Logging with levels and subsystems (NCCL style). Every line is one write of
//   [2026-11-28T23:59:59.123Z] host:pid:rank LEVEL SUBSYS message
// so lines from many processes interleave whole. Rank is '-' until SetRank() (or MT_RANK).
// Defaults come from MT_LOG_LEVEL and MT_LOG_SUBSYS; Configure() overrides them.
//
// Thread safety: all functions may be called from any thread. Formatting happens only when
// the level and subsystem are enabled.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fmt/format.h"

namespace mt::log {

enum class Level : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

// Subsystems are bits of a mask; a line is printed when its subsystem bit is set.
enum class Subsys : uint32_t {
  kInit = 1u << 0,    // startup, configuration summary
  kConfig = 1u << 1,  // job files, validation
  kComm = 1u << 2,    // backend setup, stores
  kColl = 1u << 3,    // individual collectives
  kData = 1u << 4,    // datasets, blob storage
  kCkpt = 1u << 5,    // checkpoints
  kCoord = 1u << 6,   // coordinator, rendezvous, heartbeats
  kCtrl = 1u << 7,    // control service, registry
  kTrain = 1u << 8,   // training loop
  kK8s = 1u << 9,     // Kubernetes rendering and submission
};

struct Config {
  Level level = Level::kInfo;
  uint32_t subsys_mask = ~0u;
  bool timestamps = true;
};

// Parses "trace|debug|info|warn|error|off" (case-insensitive).
absl::StatusOr<Level> ParseLevel(std::string_view text);
// Parses "ALL", "COMM,COLL" or "^DATA" (all but DATA) into a subsystem mask.
absl::StatusOr<uint32_t> ParseSubsysMask(std::string_view text);
std::string_view LevelName(Level level);
std::string_view SubsysName(Subsys subsys);

// The configuration from MT_LOG_LEVEL / MT_LOG_SUBSYS / MT_LOG_TIMESTAMPS (malformed values
// keep the defaults; params::ValidateEnvironment reports them).
Config ConfigFromEnvironment();
void Configure(const Config& config);
void SetRank(int rank);
// This machine's host name (cached; "unknown-host" if it cannot be read), as in log prefixes.
const std::string& HostName();

bool Enabled(Level level, Subsys subsys);
// Writes one line (the prefix is added here). `message` has no trailing newline.
void Write(Level level, Subsys subsys, std::string_view message);
// The prefix "host:pid:rank" used on every line.
std::string ProcessTag();

// Redirects output (tests). nullptr restores stderr.
void SetSinkForTesting(std::function<void(std::string_view line)> sink);

}  // namespace mt::log

// MT_LOG(kInfo, kConfig, "loaded {} ({} ranks)", path, world);
#define MT_LOG(level, subsys, ...)                                                \
  do {                                                                            \
    if (::mt::log::Enabled(::mt::log::Level::level, ::mt::log::Subsys::subsys)) { \
      ::mt::log::Write(::mt::log::Level::level, ::mt::log::Subsys::subsys,        \
                       ::fmt::format(__VA_ARGS__));                               \
    }                                                                             \
  } while (0)
