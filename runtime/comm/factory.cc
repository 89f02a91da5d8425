// Backend factory (see factory.h).
#include "runtime/comm/factory.h"

#include <mutex>

#include "fmt/format.h"
#include "runtime/core/logging.h"
#include "runtime/core/params.h"
#ifdef MT_HAVE_BACKEND_GLOO
#include "runtime/comm/gloo/gloo_backend.h"
#endif
#ifdef MT_HAVE_BACKEND_MPI
#include "runtime/comm/mpi/mpi_backend.h"
#endif
#ifdef MT_HAVE_BACKEND_NCCL
#include "runtime/comm/nccl/nccl_backend.h"
#endif

namespace mt::comm {
namespace {

void LogChoiceOnce(std::string_view name, int size) {
  static std::once_flag once;
  std::call_once(once,
                 [&] { MT_LOG(kInfo, kComm, "collective backend: {} ({} ranks)", name, size); });
}

absl::StatusOr<std::unique_ptr<Backend>> CreateMpi(int rank, int size) {
#ifdef MT_HAVE_BACKEND_MPI
  auto b = CreateMpiWorldBackend();
  if (!b.ok()) return b.status();
  if ((*b)->rank() != rank || (*b)->size() != size) {
    return absl::FailedPreconditionError(
        fmt::format("mpi: MPI says rank {} of {}, the job expects rank {} of {}", (*b)->rank(),
                    (*b)->size(), rank, size));
  }
  return b;
#else
  return absl::UnimplementedError("mpi: this build has no MPI backend");
#endif
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view name,
                                                       std::shared_ptr<Store> store, int rank,
                                                       int size) {
  LogChoiceOnce(name, size);
  if (name == "gloo") {
#ifdef MT_HAVE_BACKEND_GLOO
    GlooOptions options;
    if (!params::CommHost().empty()) options.hostname = params::CommHost();
    return CreateGlooBackend(std::move(store), rank, size, options);
#else
    return absl::UnimplementedError("gloo: this build has no Gloo backend");
#endif
  }
  if (name == "mpi") return CreateMpi(rank, size);
  if (name == "nccl") {
#ifdef MT_HAVE_BACKEND_NCCL
    return CreateNcclBackend(std::move(store), rank, size);
#else
    return absl::UnimplementedError("nccl: this build has no NCCL backend (built without CUDA)");
#endif
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown backend '{}'; expected gloo, mpi or nccl", name));
}

}  // namespace mt::comm
