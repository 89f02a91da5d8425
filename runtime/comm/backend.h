// The collective interface every comm backend implements (DESIGN §3, c10d style). Workers move
// tensors only through it; parallelism/ decides what to communicate, backends decide how.
//
// Asynchronous: each op enqueues and returns a Work at once; Work::Wait blocks until the op
// finished, failed, or the wait timed out. Ops run in issue order, and every rank of a group
// must issue the same collectives in the same order (as with NCCL, Gloo and MPI).
// Ownership: buffers belong to the caller and must stay valid until the Work completes.
// Failure: an op that fails or exceeds its timeout completes its Work with a Status
// (DeadlineExceeded for timeouts, Unimplemented for an unsupported op/dtype); nothing crashes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/comm/flight_recorder.h"
#include "runtime/tensor/dtype.h"

namespace mt::comm {

enum class ReduceOp { kSum, kAvg, kMax, kMin };
std::string_view ReduceOpName(ReduceOp op);

struct Options {
  ReduceOp op = ReduceOp::kSum;
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  void* stream = nullptr;  // NCCL: the cudaStream_t to run on; ignored by host backends
};

class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the op completes or `timeout` passes (DeadlineExceeded; the op goes on).
  virtual absl::Status Wait(std::chrono::milliseconds timeout) = 0;
  virtual bool Done() const = 0;
};

// A Work that is already complete with `status` (ops rejected before they start, empty ops).
std::shared_ptr<Work> CompletedWork(absl::Status status);

// NCCL's in-place conditions (see Backend), for elements of `elem_size` bytes.
inline bool InPlaceReduceScatter(const void* in, const void* out, int rank, int64_t count,
                                 size_t elem_size) {
  return static_cast<const char*>(in) + rank * count * static_cast<int64_t>(elem_size) == out;
}
inline bool InPlaceAllGather(const void* in, const void* out, int rank, int64_t count,
                             size_t elem_size) {
  return static_cast<const char*>(out) + rank * count * static_cast<int64_t>(elem_size) == in;
}

class Backend {
 public:
  virtual ~Backend() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string_view name() const = 0;
  // The largest tag Send/Recv match by, with receives postable ahead of their sends in any
  // order (what the pipeline executor needs); 0 when point-to-point is only ordered per peer
  // and tags are not matched (NCCL). Callers ask this instead of comparing name().
  virtual int64_t max_tag() const = 0;

  // In-place and out-of-place forms follow NCCL's definitions, so a caller can save the
  // second buffer: in == out for AllReduce and Broadcast; for ReduceScatter out == in +
  // rank * count (the other blocks of `in` are unspecified afterwards); for AllGather in == out
  // + rank * count. Buffers that overlap any other way are undefined behaviour, as in NCCL.

  // out[count] becomes the reduction over ranks of every rank's in[count].
  virtual std::shared_ptr<Work> AllReduce(const void* in, void* out, int64_t count, DType dtype,
                                          const Options& o = {}) = 0;
  // In place: buf[count] becomes the reduction over ranks.
  std::shared_ptr<Work> AllReduce(void* buf, int64_t count, DType dtype, const Options& o = {}) {
    return AllReduce(buf, buf, count, dtype, o);
  }
  // in[count * size] reduced over ranks; rank r receives block r into out[count].
  virtual std::shared_ptr<Work> ReduceScatter(const void* in, void* out, int64_t count, DType dtype,
                                              const Options& o = {}) = 0;
  // out[count * size] receives every rank's in[count], in rank order.
  virtual std::shared_ptr<Work> AllGather(const void* in, void* out, int64_t count, DType dtype,
                                          const Options& o = {}) = 0;
  // Every rank's out[count] receives the root's in[count] (`in` is read on the root only).
  virtual std::shared_ptr<Work> Broadcast(const void* in, void* out, int64_t count, DType dtype,
                                          int root, const Options& o = {}) = 0;
  // In place: every rank's buf[count] receives the root's.
  std::shared_ptr<Work> Broadcast(void* buf, int64_t count, DType dtype, int root,
                                  const Options& o = {}) {
    return Broadcast(buf, buf, count, dtype, root, o);
  }
  // Point to point; messages between a pair with the same tag arrive in send order.
  virtual std::shared_ptr<Work> Send(const void* buf, int64_t count, DType dtype, int peer, int tag,
                                     const Options& o = {}) = 0;
  virtual std::shared_ptr<Work> Recv(void* buf, int64_t count, DType dtype, int peer, int tag,
                                     const Options& o = {}) = 0;
  virtual std::shared_ptr<Work> Barrier(const Options& o = {}) = 0;

  // Collective over this group: ranks with the same color form a new group, ordered by
  // (key, rank). color < 0: this rank joins no group (returns nullptr). Blocks.
  virtual absl::StatusOr<std::unique_ptr<Backend>> Split(int color, int key) = 0;

  // The last collectives this communicator ran (for status reports and hang diagnosis).
  virtual const FlightRecorder& recorder() const = 0;
};

}  // namespace mt::comm
