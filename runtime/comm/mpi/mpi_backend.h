// The MPI backend: host buffers over Open MPI, for processes started by mpirun (or when the job
// says `backend: mpi`). A thin layer over MPI-3 non-blocking operations: each op is posted in
// the caller's thread in issue order and its Work completes when MPI_Test says so.
// Thread safety: all MPI calls go through one mutex unless MPI grants MPI_THREAD_MULTIPLE.
// Supported dtype: f32 (MPI has no bfloat16: bf16 ops fail with Unimplemented).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/comm/backend.h"

namespace mt::comm {

// The world communicator. Initialises MPI on first use (finalised at process exit); rank and
// size come from MPI. Fails when MPI cannot start.
absl::StatusOr<std::unique_ptr<Backend>> CreateMpiWorldBackend();

// Bootstrap helper: `value` from `root` to every rank of MPI_COMM_WORLD (e.g. the address of
// the coordinator rank 0 hosts). Collective: every rank calls it. Initialises MPI.
absl::StatusOr<std::string> MpiBroadcastString(const std::string& value, int root);

// True when the process was started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is set).
bool UnderMpirun();

}  // namespace mt::comm
