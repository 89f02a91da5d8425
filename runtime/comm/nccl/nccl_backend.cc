// NCCL backend (see nccl_backend.h).
#include "runtime/comm/nccl/nccl_backend.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::comm {
namespace {

// ---- error domains ----
bool NcclOk(ncclResult_t r) { return r == ncclSuccess; }
const char* NcclText(ncclResult_t r) { return ncclGetErrorString(r); }
bool CudaOk(cudaError_t e) { return e == cudaSuccess; }
const char* CudaText(cudaError_t e) { return cudaGetErrorString(e); }
#define MT_NCCL_CHECK(expr) \
  MT_DOMAIN_CHECK_("NCCL", expr, NcclOk, NcclText, absl::StatusCode::kInternal)
#define MT_CUDA_CHECK_LOCAL(expr) \
  MT_DOMAIN_CHECK_("CUDA", expr, CudaOk, CudaText, absl::StatusCode::kInternal)

ncclRedOp_t NcclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
    default:
      return ncclSum;
  }
}

ncclDataType_t NcclType(DType t) { return t == DType::kBF16 ? ncclBfloat16 : ncclFloat32; }

// State shared by the backend and its Works: the communicator and whether it was aborted.
struct Comm {
  ncclComm_t comm = nullptr;
  std::atomic<bool> aborted{false};
  std::string abort_reason;
  std::mutex mu;
  void Abort(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (aborted.exchange(true)) return;
    abort_reason = why;
    ncclCommAbort(comm);  // unblocks kernels stuck on a dead peer
  }
  ~Comm() {
    if (!aborted && comm != nullptr) ncclCommDestroy(comm);
  }
};

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<Comm> comm, FlightRecorder* recorder, uint64_t seq, std::string what,
           cudaEvent_t event, std::chrono::milliseconds op_timeout)
      : comm_(std::move(comm)),
        recorder_(recorder),
        seq_(seq),
        what_(std::move(what)),
        event_(event),
        deadline_(std::chrono::steady_clock::now() + op_timeout) {}
  ~NcclWork() override { cudaEventDestroy(event_); }

  absl::Status Wait(std::chrono::milliseconds timeout) override {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto st = Poll(); st.has_value()) return *st;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline_) {
        comm_->Abort(fmt::format("{} exceeded its timeout", what_));
        return Finish(absl::DeadlineExceededError(what_ + ": timed out; communicator aborted"));
      }
      if (now >= until) {
        return absl::DeadlineExceededError(
            fmt::format("{} not complete after {} ms", what_, timeout.count()));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  bool Done() const override { return const_cast<NcclWork*>(this)->Poll().has_value(); }

 private:
  // The final status once known, else nullopt.
  std::optional<absl::Status> Poll() {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return status_;
    if (comm_->aborted) {
      return FinishLocked(
          absl::AbortedError(what_ + ": communicator aborted (" + comm_->abort_reason + ")"));
    }
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_->comm, &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      comm_->Abort(NcclText(async));
      return FinishLocked(absl::UnavailableError(what_ + ": " + NcclText(async)));
    }
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaErrorNotReady) return std::nullopt;
    return FinishLocked(e == cudaSuccess ? absl::OkStatus()
                                         : absl::InternalError(what_ + ": " + CudaText(e)));
  }
  absl::Status Finish(absl::Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    return FinishLocked(std::move(st));
  }
  absl::Status FinishLocked(absl::Status st) {
    if (!done_) {
      done_ = true;
      status_ = std::move(st);
      recorder_->Finish(seq_, status_.ok() ? "" : std::string(status_.message()));
    }
    return status_;
  }

  std::shared_ptr<Comm> comm_;
  FlightRecorder* recorder_;
  uint64_t seq_;
  std::string what_;
  cudaEvent_t event_;
  std::chrono::steady_clock::time_point deadline_;
  std::mutex mu_;
  bool done_ = false;
  absl::Status status_;
};

class NcclBackend final : public Backend {
 public:
  NcclBackend(std::shared_ptr<Comm> comm, int rank, int size, NcclOptions options,
              cudaStream_t stream)
      : comm_(std::move(comm)), rank_(rank), size_(size), options_(options), stream_(stream) {}
  ~NcclBackend() override {
    // Stream-ordered: the word goes after any barrier still in flight, without blocking here
    // (a hung communicator must not hang its destruction).
    if (barrier_word_ != nullptr) cudaFreeAsync(barrier_word_, stream_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view name() const override { return "nccl"; }
  // NCCL matches sends and receives per peer in issue order; it has no tags.
  int64_t max_tag() const override { return 0; }
  const FlightRecorder& recorder() const override { return recorder_; }

  using Backend::AllReduce;
  using Backend::Broadcast;

  // NCCL defines the in-place forms as Backend does, so pointers pass straight through.
  std::shared_ptr<Work> AllReduce(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    return Launch("allreduce", count, dtype, -1, o, [&](cudaStream_t s) {
      return ncclAllReduce(in, out, count, NcclType(dtype), NcclOp(o.op), comm_->comm, s);
    });
  }
  std::shared_ptr<Work> ReduceScatter(const void* in, void* out, int64_t count, DType dtype,
                                      const Options& o) override {
    return Launch("reducescatter", count * size_, dtype, -1, o, [&](cudaStream_t s) {
      return ncclReduceScatter(in, out, count, NcclType(dtype), NcclOp(o.op), comm_->comm, s);
    });
  }
  std::shared_ptr<Work> AllGather(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    return Launch("allgather", count * size_, dtype, -1, o, [&](cudaStream_t s) {
      return ncclAllGather(in, out, count, NcclType(dtype), comm_->comm, s);
    });
  }
  std::shared_ptr<Work> Broadcast(const void* in, void* out, int64_t count, DType dtype, int root,
                                  const Options& o) override {
    if (root < 0 || root >= size_) return Bad("broadcast", root);
    return Launch("broadcast", count, dtype, root, o, [&](cudaStream_t s) {
      return ncclBroadcast(in, out, count, NcclType(dtype), root, comm_->comm, s);
    });
  }
  std::shared_ptr<Work> Send(const void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    if (peer < 0 || peer >= size_ || peer == rank_) return Bad("send", peer);
    return Launch("send", count, dtype, peer, o, [&](cudaStream_t s) {
      return ncclSend(buf, count, NcclType(dtype), peer, comm_->comm, s);
    });
  }
  std::shared_ptr<Work> Recv(void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    if (peer < 0 || peer >= size_ || peer == rank_) return Bad("recv", peer);
    return Launch("recv", count, dtype, peer, o, [&](cudaStream_t s) {
      return ncclRecv(buf, count, NcclType(dtype), peer, comm_->comm, s);
    });
  }
  std::shared_ptr<Work> Barrier(const Options& o) override {
    // NCCL has no barrier: an allreduce of one float on a scratch device word, always on the
    // backend's stream (where the word is allocated and freed, stream-ordered). Wait is the
    // barrier, whatever stream the caller uses.
    if (barrier_word_ == nullptr) {
      const cudaError_t e =
          cudaMallocAsync(reinterpret_cast<void**>(&barrier_word_), sizeof(float), stream_);
      if (e != cudaSuccess) {
        barrier_word_ = nullptr;
        return CompletedWork(absl::InternalError(
            fmt::format("barrier: cudaMallocAsync: {}", cudaGetErrorString(e))));
      }
    }
    Options on_own_stream = o;
    on_own_stream.stream = nullptr;
    return AllReduce(barrier_word_, 1, DType::kF32, on_own_stream);
  }

  absl::StatusOr<std::unique_ptr<Backend>> Split(int color, int key) override {
    ncclComm_t sub = nullptr;
    MT_NCCL_CHECK(
        ncclCommSplit(comm_->comm, color < 0 ? NCCL_SPLIT_NOCOLOR : color, key, &sub, nullptr));
    if (sub == nullptr) return std::unique_ptr<Backend>();
    int r = 0, n = 0;
    MT_NCCL_CHECK(ncclCommUserRank(sub, &r));
    MT_NCCL_CHECK(ncclCommCount(sub, &n));
    auto c = std::make_shared<Comm>();
    c->comm = sub;
    cudaStream_t stream = nullptr;
    MT_CUDA_CHECK_LOCAL(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    return std::unique_ptr<Backend>(new NcclBackend(c, r, n, options_, stream));
  }

 private:
  std::shared_ptr<Work> Bad(const char* op, int peer) const {
    return CompletedWork(absl::InvalidArgumentError(
        fmt::format("{}: invalid peer/root {} (rank {} of {})", op, peer, rank_, size_)));
  }

  // Enqueues one NCCL call on the caller's stream (or ours) and records an event after it.
  template <typename Fn>
  std::shared_ptr<Work> Launch(const char* op, int64_t count, DType dtype, int peer,
                               const Options& o, Fn&& call) {
    if (comm_->aborted) {
      return CompletedWork(absl::AbortedError(
          fmt::format("{}: communicator aborted ({})", op, comm_->abort_reason)));
    }
    cudaStream_t s = o.stream != nullptr ? static_cast<cudaStream_t>(o.stream) : stream_;
    const uint64_t seq = recorder_.Queue(op, count * static_cast<int64_t>(DTypeSize(dtype)), peer);
    recorder_.Start(seq);
    const std::string what = fmt::format("{} #{}", op, seq);
    const ncclResult_t r = call(s);
    cudaEvent_t event = nullptr;
    if (r != ncclSuccess ||
        cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventRecord(event, s) != cudaSuccess) {
      if (event != nullptr) cudaEventDestroy(event);
      const std::string why = r != ncclSuccess ? NcclText(r) : "CUDA event";
      recorder_.Finish(seq, why);
      return CompletedWork(absl::InternalError(what + ": " + why));
    }
    return std::make_shared<NcclWork>(comm_, &recorder_, seq, what, event, o.timeout);
  }

  std::shared_ptr<Comm> comm_;
  int rank_, size_;
  NcclOptions options_;
  cudaStream_t stream_;
  float* barrier_word_ = nullptr;
  FlightRecorder recorder_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateNcclBackend(std::shared_ptr<Store> store, int rank,
                                                           int size, const NcclOptions& o) {
  int device = o.device;
  if (device < 0) {
    int count = 0;
    MT_CUDA_CHECK_LOCAL(cudaGetDeviceCount(&count));
    device = rank % count;
  }
  MT_CUDA_CHECK_LOCAL(cudaSetDevice(device));
  ncclUniqueId id;
  if (rank == 0) {
    MT_NCCL_CHECK(ncclGetUniqueId(&id));
    MT_RETURN_IF_ERROR(store->Set("nccl/unique_id", std::string(id.internal, sizeof id.internal)));
  } else {
    MT_ASSIGN_OR_RETURN(std::string bytes, store->Get("nccl/unique_id", o.timeout));
    if (bytes.size() != sizeof id.internal) {
      return absl::DataLossError(
          fmt::format("nccl: unique id of {} bytes in the store", bytes.size()));
    }
    std::memcpy(id.internal, bytes.data(), sizeof id.internal);
  }
  auto comm = std::make_shared<Comm>();
  MT_NCCL_CHECK(ncclCommInitRank(&comm->comm, size, id, rank));
  cudaStream_t stream = nullptr;
  MT_CUDA_CHECK_LOCAL(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return std::unique_ptr<Backend>(new NcclBackend(comm, rank, size, o, stream));
}

}  // namespace mt::comm
