// Metrics as JSON Lines: one JSON object per record, appended and flushed as written, so a
// crash loses at most the record being written and `tail -f` shows progress.
#pragma once

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace mt::metrics {

class JsonlSink {
 public:
  JsonlSink() = default;
  ~JsonlSink();
  JsonlSink(const JsonlSink&) = delete;
  JsonlSink& operator=(const JsonlSink&) = delete;

  // Opens `path` for appending (truncating first when `truncate`).
  absl::Status Open(const std::string& path, bool truncate);
  absl::Status Write(const nlohmann::json& record);
  void Close();

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace mt::metrics
