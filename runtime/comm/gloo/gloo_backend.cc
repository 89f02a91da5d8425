// Gloo backend (see gloo_backend.h). Each op runs on the communicator's OpQueue thread, so
// calls return a Work immediately; Gloo's exceptions become Statuses there.
#include "runtime/comm/gloo/gloo_backend.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "fmt/format.h"
#include "gloo/allgather.h"
#include "gloo/allreduce.h"
#include "gloo/barrier.h"
#include "gloo/broadcast.h"
#include "gloo/math.h"
#include "gloo/rendezvous/context.h"
#include "gloo/rendezvous/store.h"
#include "gloo/transport/tcp/device.h"
#include "gloo/transport/unbound_buffer.h"
#include "runtime/comm/op_queue.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::comm {
namespace {

// Thrown through Gloo when our store times out, so Guard can report DeadlineExceeded.
struct StoreTimeout : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Gloo's rendezvous store interface over ours. Gloo expects get() to block until the key
// exists and reports failure by throwing.
class GlooStoreAdapter final : public gloo::rendezvous::Store {
 public:
  GlooStoreAdapter(std::shared_ptr<comm::Store> store, Millis timeout)
      : store_(std::move(store)), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    Check(store_->Set(key, std::string(data.begin(), data.end())));
  }
  std::vector<char> get(const std::string& key) override {
    auto v = store_->Get(key, timeout_);
    Check(v.status());
    return std::vector<char>(v->begin(), v->end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& t) override {
    Check(store_->Wait(keys, t));
  }

 private:
  static void Check(const absl::Status& st) {
    if (st.code() == absl::StatusCode::kDeadlineExceeded)
      throw StoreTimeout(std::string(st.message()));
    if (!st.ok()) throw std::runtime_error(std::string(st.message()));
  }
  std::shared_ptr<comm::Store> store_;
  Millis timeout_;
};

// Runs a Gloo call, turning its exceptions into a Status. Gloo signals timeouts with
// IoException messages containing "Timed out".
absl::Status Guard(const std::function<void()>& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const StoreTimeout& e) {
    return absl::DeadlineExceededError(e.what());
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.find("imed out") != std::string::npos || what.find("timeout") != std::string::npos) {
      return absl::DeadlineExceededError(what);
    }
    return absl::UnavailableError(what);
  }
}

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

ReduceFn GlooReduce(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax:
      return static_cast<ReduceFn>(&gloo::max<float>);
    case ReduceOp::kMin:
      return static_cast<ReduceFn>(&gloo::min<float>);
    default:
      return static_cast<ReduceFn>(&gloo::sum<float>);
  }
}

void Scale(float* p, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) p[i] *= s;
}

class GlooBackend final : public Backend {
 public:
  GlooBackend(std::shared_ptr<gloo::rendezvous::Context> ctx,
              std::shared_ptr<gloo::transport::Device> device, std::shared_ptr<comm::Store> store,
              GlooOptions options)
      : ctx_(std::move(ctx)),
        device_(std::move(device)),
        store_(std::move(store)),
        options_(std::move(options)),
        queue_(&recorder_) {}

  int rank() const override { return ctx_->rank; }
  int size() const override { return ctx_->size; }
  std::string_view name() const override { return "gloo"; }
  // Tags are slots above the collective range (PointToPoint): any non-negative int.
  int64_t max_tag() const override { return (int64_t{1} << 31) - 1; }
  const FlightRecorder& recorder() const override { return recorder_; }

  using Backend::AllReduce;
  using Backend::Broadcast;

  std::shared_ptr<Work> AllReduce(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    if (auto bad = Reject("allreduce", dtype)) return bad;
    return queue_.Enqueue("allreduce", Bytes(count), -1, [=, this] {
      if (count == 0) return absl::OkStatus();
      absl::Status st = Reduce(static_cast<const float*>(in), static_cast<float*>(out), count, o);
      if (st.ok() && o.op == ReduceOp::kAvg) Scale(static_cast<float*>(out), count, 1.0f / size());
      return st;
    });
  }

  // Gloo's allreduce, keeping this rank's block: twice the bytes of a true reduce-scatter, yet
  // faster here than Gloo's ReduceScatterHalvingDoubling (which leaves the block at offset 0
  // and measured 0.10-0.18 GB/s busbw against 0.2-0.6 for this at 2-128 MiB, 2 ranks:
  // docs/comm.md). In place (out == in + rank * count) it reduces the caller's buffer itself,
  // so the block is already where it belongs; out of place it reduces into scratch_.
  std::shared_ptr<Work> ReduceScatter(const void* in, void* out, int64_t count, DType dtype,
                                      const Options& o) override {
    if (auto bad = Reject("reducescatter", dtype)) return bad;
    return queue_.Enqueue("reducescatter", Bytes(count * size()), -1, [=, this] {
      const float* src = static_cast<const float*>(in);
      float* dst = static_cast<float*>(out);
      if (count == 0) return absl::OkStatus();
      const int64_t total = count * size();
      const bool in_place = InPlaceReduceScatter(src, dst, rank(), count, sizeof(float));
      if (!in_place && static_cast<int64_t>(scratch_.size()) < total) scratch_.resize(total);
      float* reduced = in_place ? const_cast<float*>(src) : scratch_.data();
      MT_RETURN_IF_ERROR(Reduce(src, reduced, total, o));
      if (!in_place) std::memcpy(dst, reduced + rank() * count, Bytes(count));
      if (o.op == ReduceOp::kAvg) Scale(dst, count, 1.0f / size());
      return absl::OkStatus();
    });
  }

  std::shared_ptr<Work> AllGather(const void* in, void* out, int64_t count, DType dtype,
                                  const Options& o) override {
    if (auto bad = Reject("allgather", dtype)) return bad;
    return queue_.Enqueue("allgather", Bytes(count * size()), -1, [=, this] {
      if (count == 0) return absl::OkStatus();
      float* dst = static_cast<float*>(out);
      const bool in_place = InPlaceAllGather(in, dst, rank(), count, sizeof(float));
      if (size() == 1) {
        if (!in_place) std::memcpy(out, in, Bytes(count));
        return absl::OkStatus();
      }
      return Guard([&] {
        gloo::AllgatherOptions opts(ctx_);
        // Gloo gathers in place on the output when no input is set.
        if (!in_place) opts.setInput(const_cast<float*>(static_cast<const float*>(in)), count);
        opts.setOutput(static_cast<float*>(out), count * size());
        opts.setTag(NextTag());
        opts.setTimeout(o.timeout);
        gloo::allgather(opts);
      });
    });
  }

  std::shared_ptr<Work> Broadcast(const void* in, void* out, int64_t count, DType dtype, int root,
                                  const Options& o) override {
    if (auto bad = Reject("broadcast", dtype)) return bad;
    if (root < 0 || root >= size()) {
      return CompletedWork(absl::InvalidArgumentError(
          fmt::format("broadcast: root {} outside the group of {}", root, size())));
    }
    return queue_.Enqueue("broadcast", Bytes(count), root, [=, this] {
      if (count == 0) return absl::OkStatus();
      if (rank() == root && in != out) std::memcpy(out, in, Bytes(count));
      if (size() == 1) return absl::OkStatus();
      return Guard([&] {
        gloo::BroadcastOptions opts(ctx_);
        opts.setOutput(static_cast<float*>(out), count);
        opts.setRoot(root);
        opts.setTag(NextTag());
        opts.setTimeout(o.timeout);
        gloo::broadcast(opts);
      });
    });
  }

  std::shared_ptr<Work> Send(const void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    return PointToPoint("send", const_cast<void*>(buf), count, dtype, peer, tag, o, true);
  }

  std::shared_ptr<Work> Recv(void* buf, int64_t count, DType dtype, int peer, int tag,
                             const Options& o) override {
    return PointToPoint("recv", buf, count, dtype, peer, tag, o, false);
  }

  std::shared_ptr<Work> Barrier(const Options& o) override {
    return queue_.Enqueue("barrier", 0, -1, [=, this] {
      if (size() == 1) return absl::OkStatus();
      return Guard([&] {
        gloo::BarrierOptions opts(ctx_);
        opts.setTag(NextTag());
        opts.setTimeout(o.timeout);
        gloo::barrier(opts);
      });
    });
  }

  absl::StatusOr<std::unique_ptr<Backend>> Split(int color, int key) override;

 private:
  int64_t Bytes(int64_t count) const { return count * static_cast<int64_t>(sizeof(float)); }

  // out[n] = the reduction of every rank's in[n] (in == out: in place). From queued ops only
  // (the OpQueue runs one at a time, on its thread or a waiter's).
  absl::Status Reduce(const float* in, float* out, int64_t n, const Options& o) {
    if (size() == 1) {
      if (in != out) std::memcpy(out, in, Bytes(n));
      return absl::OkStatus();
    }
    return Guard([&] {
      gloo::AllreduceOptions opts(ctx_);
      if (in != out) opts.setInput(const_cast<float*>(in), n);
      opts.setOutput(out, n);
      opts.setReduceFunction(GlooReduce(o.op));
      opts.setTag(NextTag());
      opts.setTimeout(o.timeout);
      gloo::allreduce(opts);
    });
  }

  // A completed-with-error Work for a dtype Gloo cannot reduce or move here.
  std::shared_ptr<Work> Reject(const char* op, DType dtype) {
    if (dtype == DType::kF32) return nullptr;
    return CompletedWork(absl::UnimplementedError(
        fmt::format("{}: the gloo backend supports f32 only (found {})", op, DTypeName(dtype))));
  }

  // Collective tags: every rank issues collectives in the same order, so a counter agrees.
  uint32_t NextTag() { return static_cast<uint32_t>(next_tag_++ & 0x3fffffff); }

  // Point to point does not go through the op queue: a send waiting for its receiver would
  // block every later op of this rank (a ring of sends deadlocks). The send/recv is posted
  // here, in issue order (so pairs keep their order), and its Work waits for completion.
  std::shared_ptr<Work> PointToPoint(const char* op, void* buf, int64_t count, DType dtype,
                                     int peer, int tag, const Options& o, bool send) {
    if (auto bad = Reject(op, dtype)) return bad;
    if (peer < 0 || peer >= size() || peer == rank() || tag < 0) {
      return CompletedWork(absl::InvalidArgumentError(fmt::format(
          "{}: invalid peer {} / tag {} (rank {} of {})", op, peer, tag, rank(), size())));
    }
    if (count == 0) return CompletedWork(absl::OkStatus());
    const uint64_t seq = recorder_.Queue(op, Bytes(count), peer);
    recorder_.Start(seq);
    auto work =
        std::make_shared<P2PWork>(&recorder_, seq, fmt::format("{} #{}", op, seq), send, o.timeout);
    // Point-to-point slots live above the collective tag range.
    const uint64_t slot = (uint64_t{1} << 31) + static_cast<uint64_t>(tag);
    absl::Status st = Guard([&] {
      work->buffer = ctx_->createUnboundBuffer(buf, Bytes(count));
      if (send) {
        work->buffer->send(peer, slot);
      } else {
        work->buffer->recv(peer, slot);
      }
    });
    if (!st.ok()) work->Fail(st);
    return work;
  }

  // Completes when Gloo reports the transfer done; Wait drives Gloo's wait with a deadline.
  class P2PWork final : public Work {
   public:
    P2PWork(FlightRecorder* recorder, uint64_t seq, std::string what, bool send,
            std::chrono::milliseconds op_timeout)
        : recorder_(recorder),
          seq_(seq),
          what_(std::move(what)),
          send_(send),
          op_timeout_(op_timeout) {}
    ~P2PWork() override {
      if (!Done()) Wait(op_timeout_).IgnoreError();  // Gloo must not outlive a pending buffer
    }
    absl::Status Wait(std::chrono::milliseconds timeout) override {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return status_;
      const auto t = std::min(timeout, op_timeout_);
      absl::Status st = Guard([&] { send_ ? buffer->waitSend(t) : buffer->waitRecv(t); });
      if (st.code() == absl::StatusCode::kDeadlineExceeded && timeout < op_timeout_) {
        return absl::DeadlineExceededError(
            fmt::format("{} not complete after {} ms", what_, timeout.count()));
      }
      Finish(st);
      return status_;
    }
    bool Done() const override {
      std::lock_guard<std::mutex> lock(mu_);
      return done_;
    }
    void Fail(const absl::Status& st) {
      std::lock_guard<std::mutex> lock(mu_);
      Finish(st);
    }
    std::unique_ptr<gloo::transport::UnboundBuffer> buffer;

   private:
    void Finish(const absl::Status& st) {  // mu_ held
      done_ = true;
      status_ = st.ok() ? st
                        : absl::Status(st.code(),
                                       fmt::format("{}: {}", what_, std::string(st.message())));
      recorder_->Finish(seq_, st.ok() ? "" : std::string(st.message()));
    }
    FlightRecorder* recorder_;
    uint64_t seq_;
    std::string what_;
    bool send_;
    std::chrono::milliseconds op_timeout_;
    mutable std::mutex mu_;
    bool done_ = false;
    absl::Status status_;
  };

  std::shared_ptr<gloo::rendezvous::Context> ctx_;
  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<comm::Store> store_;
  GlooOptions options_;
  uint64_t next_tag_ = 1;
  int splits_ = 0;
  // Out-of-place reduce-scatter's reduction target, kept at its largest size so repeated
  // calls (one per step) do not fault fresh pages in. Used by queued ops only (one at a time).
  std::vector<float> scratch_;
  FlightRecorder recorder_;
  OpQueue queue_;  // last: its thread stops before the members it uses are destroyed
};

absl::StatusOr<std::unique_ptr<Backend>> Connect(std::shared_ptr<comm::Store> store, int rank,
                                                 int size, const GlooOptions& options) {
  if (size < 1 || rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(fmt::format("gloo: rank {} of world {}", rank, size));
  }
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> ctx;
  absl::Status st = Guard([&] {
    gloo::transport::tcp::attr attr(options.hostname.c_str());
    device = gloo::transport::tcp::CreateDevice(attr);
    ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    ctx->setTimeout(options.timeout);
    GlooStoreAdapter adapter(store, options.timeout);
    ctx->connectFullMesh(adapter, device);
  });
  if (!st.ok()) {
    return absl::Status(st.code(), fmt::format("gloo: rank {} of {} could not connect: {}", rank,
                                               size, std::string(st.message())));
  }
  return std::unique_ptr<Backend>(new GlooBackend(ctx, device, store, options));
}

// Every rank publishes (color, key); members of a color connect through their own namespace.
absl::StatusOr<std::unique_ptr<Backend>> GlooBackend::Split(int color, int key) {
  const std::string base = fmt::format("split{}", splits_++);
  MT_RETURN_IF_ERROR(
      store_->Set(fmt::format("{}/{}", base, rank()), fmt::format("{} {}", color, key)));
  std::vector<std::tuple<int, int, int>> members;  // (key, rank, color) of my color
  for (int r = 0; r < size(); ++r) {
    MT_ASSIGN_OR_RETURN(std::string v,
                        store_->Get(fmt::format("{}/{}", base, r), options_.timeout));
    int c = 0, k = 0;
    if (std::sscanf(v.c_str(), "%d %d", &c, &k) != 2) {
      return absl::DataLossError(fmt::format("gloo split: bad entry '{}' for rank {}", v, r));
    }
    if (c == color) members.emplace_back(k, r, c);
  }
  if (color < 0) return std::unique_ptr<Backend>();
  std::sort(members.begin(), members.end());
  int new_rank = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    if (std::get<1>(members[i]) == rank()) new_rank = static_cast<int>(i);
  }
  auto sub = MakePrefixStore(fmt::format("{}/color{}", base, color), store_);
  return Connect(sub, new_rank, static_cast<int>(members.size()), options_);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateGlooBackend(std::shared_ptr<Store> store, int rank,
                                                           int size, const GlooOptions& options) {
  MT_LOG(kDebug, kComm, "gloo: rank {} of {} connecting via {}", rank, size, options.hostname);
  return Connect(std::move(store), rank, size, options);
}

}  // namespace mt::comm
