// Logging (see logging.h).
#include "runtime/core/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "runtime/core/params.h"
#include "runtime/core/text.h"

namespace mt::log {
namespace {

constexpr std::pair<Subsys, std::string_view> kSubsysNames[] = {
    {Subsys::kInit, "INIT"},   {Subsys::kConfig, "CONFIG"}, {Subsys::kComm, "COMM"},
    {Subsys::kColl, "COLL"},   {Subsys::kData, "DATA"},     {Subsys::kCkpt, "CKPT"},
    {Subsys::kCoord, "COORD"}, {Subsys::kCtrl, "CTRL"},     {Subsys::kTrain, "TRAIN"},
    {Subsys::kK8s, "K8S"},
};

struct State {
  std::once_flag init;
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
  std::atomic<uint32_t> mask{~0u};
  std::atomic<bool> timestamps{true};
  std::atomic<int> rank{-1};
  std::mutex mu;  // guards sink and the write itself
  std::function<void(std::string_view)> sink;
};

State& GetState() {
  static State* state = new State();  // never destroyed: logging works during exit
  std::call_once(state->init, [] {
    Config c = ConfigFromEnvironment();
    state->level = static_cast<int>(c.level);
    state->mask = c.subsys_mask;
    state->timestamps = c.timestamps;
    state->rank = static_cast<int>(params::Rank());
  });
  return *state;
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler thinks tm fields might hold
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return buf;
}

}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view text) {
  std::string t = text::Lower(text::Trim(text));
  for (int l = 0; l <= static_cast<int>(Level::kOff); ++l) {
    if (text::Lower(LevelName(static_cast<Level>(l))) == t) return static_cast<Level>(l);
  }
  return absl::InvalidArgumentError(
      fmt::format("log level: expected trace|debug|info|warn|error|off (found \"{}\")", text));
}

absl::StatusOr<uint32_t> ParseSubsysMask(std::string_view text) {
  std::string_view t = text::Trim(text);
  bool exclude = !t.empty() && t.front() == '^';
  if (exclude) t.remove_prefix(1);
  uint32_t mask = 0;
  if (text::Split(t, ',').empty()) {
    return absl::InvalidArgumentError("log subsystem: empty list (found \"\")");
  }
  for (std::string_view item : text::Split(t, ',')) {
    std::string name = text::Upper(item);
    if (name == "ALL") {
      mask = ~0u;
      continue;
    }
    bool found = false;
    for (const auto& [bit, n] : kSubsysNames) {
      if (n == name) mask |= static_cast<uint32_t>(bit), found = true;
    }
    if (!found) {
      return absl::InvalidArgumentError(
          fmt::format("log subsystem: unknown name (found \"{}\")", item));
    }
  }
  return exclude ? ~mask : mask;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kTrace:
      return "TRACE";
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
    case Level::kOff:
      return "OFF";
  }
  return "?";
}

std::string_view SubsysName(Subsys subsys) {
  for (const auto& [bit, name] : kSubsysNames) {
    if (bit == subsys) return name;
  }
  return "?";
}

namespace {
// MT_LOG_LEVEL and MT_LOG_SUBSYS are checked by the parsers that read them (main exits 2).
const bool kLevelChecked = params::RegisterCheck("MT_LOG_LEVEL", [](std::string_view v) {
  return ParseLevel(v).ok() ? absl::OkStatus()
                            : absl::InvalidArgumentError(
                                  "expected trace, debug, info, warn, "
                                  "error or off");
});
const bool kSubsysChecked = params::RegisterCheck("MT_LOG_SUBSYS", [](std::string_view v) {
  auto m = ParseSubsysMask(v);
  return m.ok() ? absl::OkStatus() : absl::InvalidArgumentError(m.status().message());
});
}  // namespace

Config ConfigFromEnvironment() {
  Config c;
  if (auto l = ParseLevel(params::LogLevel()); l.ok()) c.level = *l;
  if (auto m = ParseSubsysMask(params::LogSubsys()); m.ok()) c.subsys_mask = *m;
  c.timestamps = params::LogTimestamps();
  return c;
}

void Configure(const Config& config) {
  State& s = GetState();
  s.level = static_cast<int>(config.level);
  s.mask = config.subsys_mask;
  s.timestamps = config.timestamps;
}

void SetRank(int rank) { GetState().rank = rank; }

bool Enabled(Level level, Subsys subsys) {
  State& s = GetState();
  return static_cast<int>(level) >= s.level.load(std::memory_order_relaxed) &&
         (s.mask.load(std::memory_order_relaxed) & static_cast<uint32_t>(subsys)) != 0;
}

const std::string& HostName() {
  static const std::string host = [] {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return std::string("unknown-host");
    return std::string(buf);
  }();
  return host;
}

std::string ProcessTag() {
  int rank = GetState().rank.load();
  return fmt::format("{}:{}:{}", HostName(), getpid(), rank < 0 ? "-" : std::to_string(rank));
}

void Write(Level level, Subsys subsys, std::string_view message) {
  State& s = GetState();
  std::string line;
  if (s.timestamps) line = fmt::format("[{}] ", Timestamp());
  line += fmt::format("{} {} {} {}\n", ProcessTag(), LevelName(level), SubsysName(subsys), message);
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.sink) {
    s.sink(line);
    return;
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void SetSinkForTesting(std::function<void(std::string_view line)> sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink = std::move(sink);
}

}  // namespace mt::log
