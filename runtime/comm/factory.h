// Creates the backend a job asked for, by name ("gloo", "mpi", "nccl"; "auto" is resolved by the
// job layer: runtime/job/validate.h ResolveBackend). Logs the choice once per process.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/comm/backend.h"
#include "runtime/comm/store.h"

namespace mt::comm {

// gloo: joins through `store` as (rank, size). mpi: the MPI world, which must agree with
// (rank, size). Errors name the backend and what was wrong; an engine left out of this build
// is Unimplemented with the reason.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view name,
                                                       std::shared_ptr<Store> store, int rank,
                                                       int size);

}  // namespace mt::comm
