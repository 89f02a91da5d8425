// JSONL metrics sink (see jsonl_sink.h).
#include "runtime/metrics/jsonl_sink.h"

#include <cerrno>

#include "runtime/core/status.h"

namespace mt::metrics {

JsonlSink::~JsonlSink() { Close(); }

absl::Status JsonlSink::Open(const std::string& path, bool truncate) {
  Close();
  file_ = std::fopen(path.c_str(), truncate ? "w" : "a");
  if (file_ == nullptr) return ErrnoStatus(errno, "fopen", path);
  path_ = path;
  return absl::OkStatus();
}

absl::Status JsonlSink::Write(const nlohmann::json& record) {
  if (file_ == nullptr) return absl::FailedPreconditionError("metrics sink is not open");
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return ErrnoStatus(errno, "write", path_);
  }
  return absl::OkStatus();
}

void JsonlSink::Close() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
}

}  // namespace mt::metrics
