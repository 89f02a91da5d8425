// The NCCL backend: device buffers on one GPU per rank. The unique id travels through our
// Store (rank 0 creates it); every op is enqueued on the caller's stream (Options::stream, or
// the backend's own) and its Work completes when a CUDA event recorded after it fires.
// Watchdog: Work::Wait checks ncclCommGetAsyncError while it waits; an async error or an op
// past its timeout aborts the communicator (ncclCommAbort), failing every pending Work.
// Supported dtypes: f32 and bf16.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/comm/backend.h"
#include "runtime/comm/store.h"

namespace mt::comm {

struct NcclOptions {
  int device = -1;  // CUDA device of this rank; -1: rank modulo the visible devices
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};  // init and default op timeout
};

absl::StatusOr<std::unique_ptr<Backend>> CreateNcclBackend(std::shared_ptr<Store> store, int rank,
                                                           int size,
                                                           const NcclOptions& options = {});

}  // namespace mt::comm
