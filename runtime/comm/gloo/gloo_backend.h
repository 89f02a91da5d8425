// The Gloo backend: host buffers over TCP (loopback or pod IPs), the default for CPU runs
// without mpirun. A thin layer over Gloo's own algorithms; bootstraps through our Store.
// Supported dtype: f32 (Gloo has no bfloat16: bf16 ops fail with Unimplemented).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/comm/backend.h"
#include "runtime/comm/store.h"

namespace mt::comm {

struct GlooOptions {
  std::string hostname = "127.0.0.1";                            // address this rank listens on
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};  // connect and default op timeout
};

// Joins a group of `size` ranks through `store` (every rank calls this with the same store
// namespace). Blocks until the full mesh is connected or the timeout passes.
absl::StatusOr<std::unique_ptr<Backend>> CreateGlooBackend(std::shared_ptr<Store> store, int rank,
                                                           int size,
                                                           const GlooOptions& options = {});

}  // namespace mt::comm
