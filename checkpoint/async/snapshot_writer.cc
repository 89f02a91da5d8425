// Snapshot and background write of a checkpoint save (see snapshot_writer.h).
#include "checkpoint/async/snapshot_writer.h"

#include <algorithm>
#include <utility>

namespace mt::ckpt {
namespace {

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

SnapshotWriter::~SnapshotWriter() {
  if (writer_.joinable()) writer_.join();
}

absl::Status SnapshotWriter::Wait() {
  if (!writer_.joinable()) return absl::OkStatus();
  const auto t0 = std::chrono::steady_clock::now();
  writer_.join();
  blocked_s_ += Since(t0);
  return std::exchange(writer_status_, absl::OkStatus());
}

absl::Status SnapshotWriter::Begin() {
  absl::Status previous = Wait();
  began_ = std::chrono::steady_clock::now();
  used_ = 0;
  copies_.clear();
  return previous;
}

const float* SnapshotWriter::Stage(const float* data, int64_t n) {
  if (!async_) return data;
  if (used_ == buffers_.size()) buffers_.emplace_back();
  std::vector<float>& buf = buffers_[used_++];
  buf.resize(n);
  copies_.push_back({data, buf.data(), n});
  return buf.data();
}

void SnapshotWriter::CopyStaged() {
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < copies_.size(); ++i) {
    std::copy_n(copies_[i].from, copies_[i].n, copies_[i].to);
  }
  copies_.clear();
}

absl::Status SnapshotWriter::Launch(std::function<absl::Status()> write) {
  CopyStaged();
  absl::Status status;
  if (async_) {
    writer_ = std::thread([this, write = std::move(write)] { writer_status_ = write(); });
  } else {
    status = write();
  }
  blocked_s_ += Since(began_);
  return status;
}

}  // namespace mt::ckpt
