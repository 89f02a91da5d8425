// MPI backend (see mpi_backend.h).
#include "runtime/comm/mpi/mpi_backend.h"

#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "runtime/comm/op_queue.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::comm {
namespace {

// ---- the MPI error domain ----
bool MpiOk(int rc) { return rc == MPI_SUCCESS; }
std::string MpiText(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return std::string(text, len);
}
#define MT_MPI_CHECK(expr) \
  MT_DOMAIN_CHECK_("MPI", expr, MpiOk, MpiText, absl::StatusCode::kInternal)

// One process-wide lock for MPI when the library is not fully thread-safe.
struct MpiRuntime {
  bool multiple = false;
  std::mutex mu;
  std::unique_lock<std::mutex> Lock() {
    return multiple ? std::unique_lock<std::mutex>() : std::unique_lock<std::mutex>(mu);
  }
};

MpiRuntime& Runtime() {
  static MpiRuntime* rt = new MpiRuntime();
  return *rt;
}

absl::Status InitOnce() {
  static absl::Status status = [] {
    int initialized = 0;
    MPI_Initialized(&initialized);
    int provided = MPI_THREAD_SINGLE;
    if (!initialized) {
      const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
      if (rc != MPI_SUCCESS)
        return absl::UnavailableError("MPI_Init_thread failed: " + MpiText(rc));
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    } else {
      MPI_Query_thread(&provided);
    }
    Runtime().multiple = provided == MPI_THREAD_MULTIPLE;
    MT_LOG(kDebug, kComm, "mpi: thread level {}", provided);
    return absl::OkStatus();
  }();
  return status;
}

MPI_Op MpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
    default:
      return MPI_SUM;
  }
}

// Completes when MPI_Test reports the request done; then runs `after` (e.g. the avg scaling).
class MpiWork final : public Work {
 public:
  MpiWork(FlightRecorder* recorder, uint64_t seq, std::string what, MPI_Request request,
          std::function<void()> after)
      : recorder_(recorder),
        seq_(seq),
        what_(std::move(what)),
        request_(request),
        after_(std::move(after)) {}
  absl::Status Wait(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!Poll()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError(
            fmt::format("{} not complete after {} ms", what_, timeout.count()));
      }
      std::this_thread::yield();
    }
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  bool Done() const override { return const_cast<MpiWork*>(this)->Poll(); }

 private:
  bool Poll() {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return true;
    int flag = 0;
    int rc;
    {
      auto mpi = Runtime().Lock();
      rc = MPI_Test(&request_, &flag, MPI_STATUS_IGNORE);
    }
    if (rc != MPI_SUCCESS) {
      status_ = absl::InternalError(fmt::format("{}: {}", what_, MpiText(rc)));
    } else if (!flag) {
      return false;
    } else if (after_) {
      after_();
    }
    done_ = true;
    recorder_->Finish(seq_, status_.ok() ? "" : std::string(status_.message()));
    return true;
  }
  FlightRecorder* recorder_;
  uint64_t seq_;
  std::string what_;
  MPI_Request request_;
  std::function<void()> after_;
  std::mutex mu_;
  bool done_ = false;
  absl::Status status_;
};

class MpiBackend final : public Backend {
 public:
  explicit MpiBackend(MPI_Comm comm) : comm_(comm) {
    auto mpi = Runtime().Lock();
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);  // errors become Statuses, not aborts
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiBackend() override {
    if (comm_ != MPI_COMM_WORLD) {
      auto mpi = Runtime().Lock();
      MPI_Comm_free(&comm_);
    }
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view name() const override { return "mpi"; }
  // MPI guarantees MPI_TAG_UB >= 32767; more is implementation-defined.
  int64_t max_tag() const override { return 32767; }
  const FlightRecorder& recorder() const override { return recorder_; }

  using Backend::AllReduce;
  using Backend::Broadcast;

  // MPI forbids aliased send and receive buffers; Backend's in-place forms map to MPI_IN_PLACE.
  std::shared_ptr<Work> AllReduce(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    const void* send = in == out ? MPI_IN_PLACE : in;
    return Collective(
        "allreduce", dtype, count, -1,
        [=, this] { return MPI_Allreduce(send, out, Count(count), MPI_FLOAT, MpiOp(o.op), comm_); },
        [&](MPI_Request* r) {
          return MPI_Iallreduce(send, out, Count(count), MPI_FLOAT, MpiOp(o.op), comm_, r);
        },
        Averager(o.op, static_cast<float*>(out), count));
  }

  // In place, MPI leaves this rank's block at the start of the buffer; it is moved to `out`.
  std::shared_ptr<Work> ReduceScatter(const void* in, void* out, int64_t count, DType dtype,
                                      const Options& o) override {
    float* dst = static_cast<float*>(out);
    const bool in_place = InPlaceReduceScatter(in, dst, rank_, count, sizeof(float));
    const void* send = in_place ? MPI_IN_PLACE : in;
    void* recv = in_place ? const_cast<void*>(in) : out;
    std::function<void()> avg = Averager(o.op, dst, count);
    std::function<void()> after = avg;
    if (in_place && rank_ > 0) {
      after = [dst, recv, count, avg] {
        std::memcpy(dst, recv, count * sizeof(float));  // blocks 0 and rank do not overlap
        if (avg) avg();
      };
    }
    return Collective(
        "reducescatter", dtype, count * size_, -1,
        [=, this] {
          return MPI_Reduce_scatter_block(send, recv, Count(count), MPI_FLOAT, MpiOp(o.op), comm_);
        },
        [&](MPI_Request* r) {
          return MPI_Ireduce_scatter_block(send, recv, Count(count), MPI_FLOAT, MpiOp(o.op), comm_,
                                           r);
        },
        std::move(after));
  }

  std::shared_ptr<Work> AllGather(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    const bool in_place = InPlaceAllGather(in, out, rank_, count, sizeof(float));
    const void* send = in_place ? MPI_IN_PLACE : in;
    const int send_count = in_place ? 0 : Count(count);
    const MPI_Datatype send_type = in_place ? MPI_DATATYPE_NULL : MPI_FLOAT;
    return Collective(
        "allgather", dtype, count * size_, -1,
        [=, this] {
          return MPI_Allgather(send, send_count, send_type, out, Count(count), MPI_FLOAT, comm_);
        },
        [&](MPI_Request* r) {
          return MPI_Iallgather(send, send_count, send_type, out, Count(count), MPI_FLOAT, comm_,
                                r);
        });
  }

  // Out of place, the root copies `in` to `out` and broadcasts that.
  std::shared_ptr<Work> Broadcast(const void* in, void* out, int64_t count, DType dtype, int root,
                                  const Options& o) override {
    if (root < 0 || root >= size_) return BadPeer("broadcast", root);
    const bool copy = rank_ == root && in != out && count > 0;
    const auto stage = [=] {
      if (copy) std::memcpy(out, in, count * sizeof(float));
    };
    return Collective(
        "broadcast", dtype, count, root,
        [=, this] {
          stage();
          return MPI_Bcast(out, Count(count), MPI_FLOAT, root, comm_);
        },
        [&](MPI_Request* r) {
          stage();
          return MPI_Ibcast(out, Count(count), MPI_FLOAT, root, comm_, r);
        });
  }

  std::shared_ptr<Work> Send(const void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    if (peer < 0 || peer >= size_ || peer == rank_ || tag < 0) return BadPeer("send", peer);
    return Post("send", dtype, count, peer, [&](MPI_Request* r) {
      return MPI_Isend(buf, Count(count), MPI_FLOAT, peer, tag, comm_, r);
    });
  }

  std::shared_ptr<Work> Recv(void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    if (peer < 0 || peer >= size_ || peer == rank_ || tag < 0) return BadPeer("recv", peer);
    return Post("recv", dtype, count, peer, [&](MPI_Request* r) {
      return MPI_Irecv(buf, Count(count), MPI_FLOAT, peer, tag, comm_, r);
    });
  }

  std::shared_ptr<Work> Barrier(const Options& o) override {
    return Collective(
        "barrier", DType::kF32, 0, -1, [=, this] { return MPI_Barrier(comm_); },
        [&](MPI_Request* r) { return MPI_Ibarrier(comm_, r); });
  }

  absl::StatusOr<std::unique_ptr<Backend>> Split(int color, int key) override {
    MPI_Comm sub = MPI_COMM_NULL;
    {
      auto mpi = Runtime().Lock();
      MT_MPI_CHECK(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &sub));
    }
    if (sub == MPI_COMM_NULL) return std::unique_ptr<Backend>();
    return std::unique_ptr<Backend>(new MpiBackend(sub));
  }

 private:
  static int Count(int64_t n) { return static_cast<int>(n); }

  std::function<void()> Averager(ReduceOp op, float* p, int64_t n) const {
    if (op != ReduceOp::kAvg) return nullptr;
    const float s = 1.0f / size_;
    return [p, n, s] {
      for (int64_t i = 0; i < n; ++i) p[i] *= s;
    };
  }

  std::shared_ptr<Work> BadPeer(const char* op, int peer) const {
    return CompletedWork(absl::InvalidArgumentError(
        fmt::format("{}: invalid peer/root {} (rank {} of {})", op, peer, rank_, size_)));
  }

  // With MPI_THREAD_MULTIPLE, collectives run as blocking calls on the op queue thread: Open
  // MPI's tuned blocking algorithms were about twice as fast as its non-blocking (libnbc) ones
  // in bench/comm, and nothing has to poll for progress. Otherwise they are posted
  // non-blocking under the MPI lock. Point to point is always non-blocking from the caller.
  // Templates, not std::function parameters: each std::function built from a capturing
  // lambda is an allocation, and a 64 KiB shared-memory collective takes only 5-10 us.
  template <typename Blocking, typename NonBlocking>
  std::shared_ptr<Work> Collective(const char* op, DType dtype, int64_t count, int peer,
                                   Blocking blocking, const NonBlocking& nonblocking,
                                   std::function<void()> after = nullptr) {
    if (!Runtime().multiple) return Post(op, dtype, count, peer, nonblocking, std::move(after));
    if (auto bad = Check(op, dtype, count)) return bad;
    return queue_.Enqueue(op, count * 4, peer,
                          [blocking = std::move(blocking), after = std::move(after)] {
                            const int rc = blocking();
                            if (rc != MPI_SUCCESS) return absl::InternalError(MpiText(rc));
                            if (after) after();
                            return absl::OkStatus();
                          });
  }

  // A failed Work for what MPI cannot take, or nullptr.
  std::shared_ptr<Work> Check(const char* op, DType dtype, int64_t count) const {
    if (dtype != DType::kF32) {
      return CompletedWork(absl::UnimplementedError(
          fmt::format("{}: the mpi backend supports f32 only (found {})", op, DTypeName(dtype))));
    }
    if (count > INT32_MAX) {
      return CompletedWork(absl::InvalidArgumentError(
          fmt::format("{}: {} elements exceed MPI's int count", op, count)));
    }
    return nullptr;
  }

  // Posts one non-blocking MPI call under the MPI lock, in issue order.
  std::shared_ptr<Work> Post(const char* op, DType dtype, int64_t count, int peer,
                             const std::function<int(MPI_Request*)>& start,
                             std::function<void()> after = nullptr) {
    if (auto bad = Check(op, dtype, count)) return bad;
    const uint64_t seq = recorder_.Queue(op, count * 4, peer);
    recorder_.Start(seq);
    const std::string what = fmt::format("{} #{}", op, seq);
    MPI_Request request = MPI_REQUEST_NULL;
    int rc;
    {
      auto mpi = Runtime().Lock();
      rc = start(&request);
    }
    if (rc != MPI_SUCCESS) {
      recorder_.Finish(seq, MpiText(rc));
      return CompletedWork(absl::InternalError(what + ": " + MpiText(rc)));
    }
    return std::make_shared<MpiWork>(&recorder_, seq, what, request, std::move(after));
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  FlightRecorder recorder_;
  OpQueue queue_{&recorder_};  // last: stops before the members it uses go
};

}  // namespace

bool UnderMpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

absl::StatusOr<std::unique_ptr<Backend>> CreateMpiWorldBackend() {
  MT_RETURN_IF_ERROR(InitOnce());
  return std::unique_ptr<Backend>(new MpiBackend(MPI_COMM_WORLD));
}

}  // namespace mt::comm

namespace mt::comm {

absl::StatusOr<std::string> MpiBroadcastString(const std::string& value, int root) {
  MT_RETURN_IF_ERROR(InitOnce());
  auto lock = Runtime().Lock();
  int64_t n = static_cast<int64_t>(value.size());
  MT_MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD));
  std::string out = value;
  out.resize(n);
  MT_MPI_CHECK(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD));
  return out;
}

}  // namespace mt::comm
