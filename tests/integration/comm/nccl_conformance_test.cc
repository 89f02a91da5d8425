// The NCCL backend through the shared conformance suite (tests/support/comm_conformance.h):
// one rank per visible GPU, up to 4, ranks as threads (NCCL refuses two ranks on one device,
// so a one-GPU machine runs world 1 and a multi-GPU host the real collectives). Label gpu:
// skipped without a device.
//
// The suite checks host vectors; HostStaged wraps the NCCL backend so that every op copies its
// buffers to device memory, keeping NCCL's in-place aliasing there (the rank's block of the
// larger buffer), runs on the device, waits, checks that an out-of-place op left its device
// input alone, and copies the result back. Point-to-point order
// (CheckSendRecvOrder) is not run: staged ops complete one at a time, and NCCL matches sends
// and receives in issue order without tags, so two sends ahead of two receives in a ring
// would wait for each other (the pipeline executor refuses NCCL for that reason).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <iterator>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "runtime/comm/nccl/nccl_backend.h"
#include "runtime/core/status.h"
#include "runtime/kernels/cuda/device.h"
#include "tests/support/comm_conformance.h"

namespace mt::comm {
namespace {

using namespace mt::comm::testing;
using namespace std::chrono_literals;

// One rank's device memory for staging, allocated once at the suite's largest message and
// reused by every op (cudaMalloc/cudaFree while a peer's NCCL kernel runs can hang a
// multi-GPU process). Sub-groups from Split share their parent's: same thread, one op at a time.
struct Staging {
  explicit Staging(size_t bytes) {
    ok = cudaMalloc(reinterpret_cast<void**>(&in), bytes) == cudaSuccess &&
         cudaMalloc(reinterpret_cast<void**>(&out), bytes) == cudaSuccess;
  }
  ~Staging() {
    cudaFree(in);
    cudaFree(out);
  }
  char* in = nullptr;
  char* out = nullptr;
  bool ok = false;
};

absl::Status Cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(fmt::format("{}: {}", what, cudaGetErrorString(e)));
}

// Copies and waits for the copy (a pageable cudaMemcpy may return before its DMA is done, and
// the backend's stream does not order with the legacy default stream).
absl::Status Up(char* device, const void* host, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  MT_RETURN_IF_ERROR(Cuda(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "upload"));
  return Cuda(cudaDeviceSynchronize(), "upload");
}

absl::Status Down(void* host, const char* device, size_t bytes) {
  return bytes == 0 ? absl::OkStatus()
                    : Cuda(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "download");
}

// An out-of-place op must leave its input as it was, on the device where NCCL read it.
absl::Status Unchanged(const char* device, const void* host, size_t bytes, const char* op) {
  std::vector<char> back(bytes);
  MT_RETURN_IF_ERROR(Down(back.data(), device, bytes));
  if (bytes > 0 && std::memcmp(back.data(), host, bytes) != 0) {
    return absl::InternalError(fmt::format("out-of-place {} changed its input", op));
  }
  return absl::OkStatus();
}

class HostStaged final : public Backend {
 public:
  HostStaged(std::unique_ptr<Backend> nccl, std::shared_ptr<Staging> staging)
      : b_(std::move(nccl)), st_(std::move(staging)) {}
  int rank() const override { return b_->rank(); }
  int size() const override { return b_->size(); }
  std::string_view name() const override { return b_->name(); }
  int64_t max_tag() const override { return b_->max_tag(); }
  const FlightRecorder& recorder() const override { return b_->recorder(); }

  using Backend::AllReduce;
  using Backend::Broadcast;

  std::shared_ptr<Work> AllReduce(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    char* recv = in == out ? st_->in : st_->out;
    return Staged(
        Up(st_->in, in, bytes), [&] { return b_->AllReduce(st_->in, recv, count, dtype, o); },
        [&]() -> absl::Status {
          if (in != out) MT_RETURN_IF_ERROR(Unchanged(st_->in, in, bytes, "allreduce"));
          return Down(out, recv, bytes);
        },
        o);
  }

  std::shared_ptr<Work> ReduceScatter(const void* in, void* out, int64_t count, DType dtype,
                                      const Options& o) override {
    const size_t block = count * DTypeSize(dtype);
    const bool in_place = InPlaceReduceScatter(in, out, rank(), count, DTypeSize(dtype));
    char* recv = in_place ? st_->in + rank() * block : st_->out;
    return Staged(
        Up(st_->in, in, block * size()),
        [&] { return b_->ReduceScatter(st_->in, recv, count, dtype, o); },
        [&]() -> absl::Status {
          if (!in_place) {
            MT_RETURN_IF_ERROR(Unchanged(st_->in, in, block * size(), "reducescatter"));
          }
          return Down(out, recv, block);
        },
        o);
  }

  std::shared_ptr<Work> AllGather(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    const size_t block = count * DTypeSize(dtype);
    const bool in_place = InPlaceAllGather(in, out, rank(), count, DTypeSize(dtype));
    // In place the rank's block of `out` is the input, where NCCL expects it on the device too.
    char* send = in_place ? st_->out + rank() * block : st_->in;
    return Staged(
        Up(send, in, block), [&] { return b_->AllGather(send, st_->out, count, dtype, o); },
        [&]() -> absl::Status {
          if (!in_place) MT_RETURN_IF_ERROR(Unchanged(send, in, block, "allgather"));
          return Down(out, st_->out, block * size());
        },
        o);
  }

  // `in` is read on the root only (backend.h), so only the root uploads it.
  std::shared_ptr<Work> Broadcast(const void* in, void* out, int64_t count, DType dtype, int root,
                                  const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    const bool reads = rank() == root;
    char* recv = in == out ? st_->in : st_->out;
    return Staged(
        reads ? Up(st_->in, in, bytes) : absl::OkStatus(),
        [&] { return b_->Broadcast(st_->in, recv, count, dtype, root, o); },
        [&]() -> absl::Status {
          if (reads && in != out) MT_RETURN_IF_ERROR(Unchanged(st_->in, in, bytes, "broadcast"));
          return Down(out, recv, bytes);
        },
        o);
  }

  std::shared_ptr<Work> Send(const void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    return Staged(
        Up(st_->in, buf, bytes), [&] { return b_->Send(st_->in, count, dtype, peer, tag, o); },
        [] { return absl::OkStatus(); }, o);
  }

  std::shared_ptr<Work> Recv(void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    return Staged(
        absl::OkStatus(), [&] { return b_->Recv(st_->out, count, dtype, peer, tag, o); },
        [&] { return Down(buf, st_->out, bytes); }, o);
  }

  std::shared_ptr<Work> Barrier(const Options& o) override { return b_->Barrier(o); }

  absl::StatusOr<std::unique_ptr<Backend>> Split(int color, int key) override {
    auto sub = b_->Split(color, key);
    if (!sub.ok() || *sub == nullptr) return sub;
    return std::unique_ptr<Backend>(new HostStaged(std::move(*sub), st_));
  }

 private:
  // After the upload (done by the caller, its status given): runs the op, waits for it and
  // the device, then checks and downloads. The Work returned is complete.
  template <typename Run, typename After>
  std::shared_ptr<Work> Staged(const absl::Status& upload, Run run, After after, const Options& o) {
    if (!upload.ok()) return CompletedWork(upload);
    absl::Status st = run()->Wait(o.timeout);
    if (st.ok()) st = Cuda(cudaDeviceSynchronize(), "synchronize");
    if (st.ok()) st = after();
    return CompletedWork(st);
  }

  std::unique_ptr<Backend> b_;
  std::shared_ptr<Staging> st_;
};

int World() {
  auto count = cuda::DeviceCount();  // >= 1: the gpu main skips machines without a device
  return std::min(count.value_or(1), 4);
}

// Runs fn(backend) on one thread per rank, each with its own GPU, joined through one fresh
// store namespace.
void RunRanks(const std::function<void(Backend&)>& fn) {
  static std::atomic<int> group{0};
  auto store = MakePrefixStore(fmt::format("n{}", group++), MakeMemoryStore());
  const int world = World();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      NcclOptions o;
      o.device = r;
      o.timeout = 120s;
      auto b = CreateNcclBackend(store, r, world, o);
      ASSERT_TRUE(b.ok()) << b.status();
      // The largest buffer of the suite: a reduce-scatter input of its largest count per rank.
      const int64_t most = *std::max_element(std::begin(kCounts), std::end(kCounts));
      auto staging = std::make_shared<Staging>(most * world * sizeof(float));
      ASSERT_TRUE(staging->ok) << "cudaMalloc of the staging buffers on GPU " << r;
      HostStaged staged(std::move(*b), staging);
      fn(staged);
    });
  }
  for (auto& t : threads) t.join();
}

TEST(NcclConformance, AllReduceEveryOpAndCount) {
  std::printf("world %d (one rank per GPU)\n", World());
  RunRanks(CheckAllReduce);
}
TEST(NcclConformance, ReduceScatterAllGatherBroadcast) {
  RunRanks(CheckReduceScatterAllGatherBroadcast);
}
TEST(NcclConformance, InPlaceAndOutOfPlaceForms) { RunRanks(CheckOtherPlacements); }
TEST(NcclConformance, SplitFormsSubGroups) { RunRanks(CheckSplit); }

}  // namespace
}  // namespace mt::comm
