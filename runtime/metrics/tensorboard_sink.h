// Metrics as TensorBoard event files (what `tensorboard --logdir` reads): TFRecord framing —
// length (u64 LE), masked CRC32C of the length, the serialized Event, masked CRC32C of it —
// around tensorflow.Event protobufs, written by hand (fields: wall_time 1, step 2,
// file_version 3, summary 5 with Summary.Value{tag 1, simple_value 2}, session_log 6). Each
// event is flushed as written.
//
// The first event carries file_version "brain.Event:2"; Restart() writes a SessionLog START,
// which TensorBoard uses to drop points the resumed run wrote again.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace mt::metrics {

// CRC-32C (Castagnoli) of `n` bytes, and TFRecord's masking of it.
uint32_t Crc32c(const void* data, size_t n);
uint32_t MaskCrc(uint32_t crc);

class TensorBoardSink {
 public:
  TensorBoardSink() = default;
  ~TensorBoardSink();
  TensorBoardSink(const TensorBoardSink&) = delete;
  TensorBoardSink& operator=(const TensorBoardSink&) = delete;

  // Creates DIR (and parents) and a new DIR/events.out.tfevents.<seconds>.<host>.<pid>.
  absl::Status Open(const std::string& dir);
  // One event at `step` holding these scalars.
  absl::Status Scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // A SessionLog START at `step` (a resumed or restarted run).
  absl::Status Restart(int64_t step);
  const std::string& path() const { return path_; }

 private:
  absl::Status WriteEvent(const std::string& event);

  std::FILE* file_ = nullptr;
  std::string path_;
};

}  // namespace mt::metrics
