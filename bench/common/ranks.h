// Runs a mesh's ranks as threads of one benchmark process: Gloo over loopback with an
// in-memory store, each rank's kernels on one CPU thread (so `world` ranks use `world` cores,
// as separate processes pinned one per core would).
#pragma once

#include <functional>
#include <string>

#include "runtime/comm/backend.h"

namespace mt::bench {

// Calls fn(world communicator, rank) on `world` threads and joins them. A rank that cannot
// build its communicator aborts the benchmark with the reason.
void RunRanks(int world, const std::string& name,
              const std::function<void(comm::Backend& world, int rank)>& fn);

}  // namespace mt::bench
