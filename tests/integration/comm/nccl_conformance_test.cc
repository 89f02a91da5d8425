// The NCCL backend through the shared conformance suite (tests/support/comm_conformance.h):
// one rank per visible GPU, up to 4, ranks as threads (NCCL refuses two ranks on one device,
// so a one-GPU machine runs world 1 and a multi-GPU host the real collectives). Label gpu:
// skipped without a device.
//
// The suite checks host vectors; HostStaged wraps the NCCL backend so that every op copies its
// buffers to device memory, keeping NCCL's in-place aliasing there (the rank's block of the
// larger buffer), runs on the device, waits, and copies the result back. Point-to-point order
// (CheckSendRecvOrder) is not run: staged ops complete one at a time, and NCCL matches sends
// and receives in issue order without tags, so two sends ahead of two receives in a ring
// would wait for each other (the pipeline executor refuses NCCL for that reason).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "runtime/comm/nccl/nccl_backend.h"
#include "runtime/kernels/cuda/device.h"
#include "tests/support/comm_conformance.h"

namespace mt::comm {
namespace {

using namespace mt::comm::testing;
using namespace std::chrono_literals;

// Device memory for one staged op, freed at scope end (never 0 bytes: count 0 is an op too).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) { ok_ = cudaMalloc(&p_, std::max<size_t>(bytes, 4)) == 0; }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  char* get() const { return static_cast<char*>(p_); }
  bool ok() const { return ok_; }

 private:
  void* p_ = nullptr;
  bool ok_ = false;
};

absl::Status Cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(fmt::format("{}: {}", what, cudaGetErrorString(e)));
}

absl::Status Up(char* device, const void* host, size_t bytes) {
  return bytes == 0 ? absl::OkStatus()
                    : Cuda(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "upload");
}

absl::Status Down(void* host, const char* device, size_t bytes) {
  return bytes == 0 ? absl::OkStatus()
                    : Cuda(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "download");
}

class HostStaged final : public Backend {
 public:
  explicit HostStaged(std::unique_ptr<Backend> nccl) : b_(std::move(nccl)) {}
  int rank() const override { return b_->rank(); }
  int size() const override { return b_->size(); }
  std::string_view name() const override { return b_->name(); }
  const FlightRecorder& recorder() const override { return b_->recorder(); }

  using Backend::AllReduce;
  using Backend::Broadcast;

  std::shared_ptr<Work> AllReduce(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    DeviceBuffer din(bytes), dout(bytes);
    char* send = din.get();
    char* recv = in == out ? send : dout.get();
    return Staged(
        Up(send, in, bytes), [&] { return b_->AllReduce(send, recv, count, dtype, o); },
        [&] { return Down(out, recv, bytes); }, o);
  }

  std::shared_ptr<Work> ReduceScatter(const void* in, void* out, int64_t count, DType dtype,
                                      const Options& o) override {
    const size_t block = count * DTypeSize(dtype);
    const bool in_place = InPlaceReduceScatter(in, out, rank(), count, DTypeSize(dtype));
    DeviceBuffer din(block * size()), dout(block);
    char* recv = in_place ? din.get() + rank() * block : dout.get();
    return Staged(
        Up(din.get(), in, block * size()),
        [&] { return b_->ReduceScatter(din.get(), recv, count, dtype, o); },
        [&] { return Down(out, recv, block); }, o);
  }

  std::shared_ptr<Work> AllGather(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    const size_t block = count * DTypeSize(dtype);
    const bool in_place = InPlaceAllGather(in, out, rank(), count, DTypeSize(dtype));
    DeviceBuffer din(block), dout(block * size());
    // In place the rank's block of `out` is the input, where NCCL expects it on the device too.
    char* send = in_place ? dout.get() + rank() * block : din.get();
    return Staged(
        Up(send, in, block), [&] { return b_->AllGather(send, dout.get(), count, dtype, o); },
        [&] { return Down(out, dout.get(), block * size()); }, o);
  }

  std::shared_ptr<Work> Broadcast(const void* in, void* out, int64_t count, DType dtype, int root,
                                  const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    DeviceBuffer din(bytes), dout(bytes);
    char* recv = in == out ? din.get() : dout.get();
    return Staged(
        Up(din.get(), in, bytes),
        [&] { return b_->Broadcast(din.get(), recv, count, dtype, root, o); },
        [&] { return Down(out, recv, bytes); }, o);
  }

  std::shared_ptr<Work> Send(const void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    DeviceBuffer d(bytes);
    return Staged(
        Up(d.get(), buf, bytes), [&] { return b_->Send(d.get(), count, dtype, peer, tag, o); },
        [] { return absl::OkStatus(); }, o);
  }

  std::shared_ptr<Work> Recv(void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    const size_t bytes = count * DTypeSize(dtype);
    DeviceBuffer d(bytes);
    return Staged(
        absl::OkStatus(), [&] { return b_->Recv(d.get(), count, dtype, peer, tag, o); },
        [&] { return Down(buf, d.get(), bytes); }, o);
  }

  std::shared_ptr<Work> Barrier(const Options& o) override { return b_->Barrier(o); }

  absl::StatusOr<std::unique_ptr<Backend>> Split(int color, int key) override {
    auto sub = b_->Split(color, key);
    if (!sub.ok() || *sub == nullptr) return sub;
    return std::unique_ptr<Backend>(new HostStaged(std::move(*sub)));
  }

 private:
  // After the upload (done by the caller, its status given): runs the op, waits for it and
  // downloads. The Work returned is complete.
  template <typename Run, typename Download>
  std::shared_ptr<Work> Staged(const absl::Status& upload, Run run, Download download,
                               const Options& o) {
    if (!upload.ok()) return CompletedWork(upload);
    absl::Status st = run()->Wait(o.timeout);
    if (st.ok()) st = Cuda(cudaDeviceSynchronize(), "synchronize");
    if (st.ok()) st = download();
    return CompletedWork(st);
  }

  std::unique_ptr<Backend> b_;
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
      HostStaged staged(std::move(*b));
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
