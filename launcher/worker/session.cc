// Worker session (see session.h).
#include "launcher/worker/session.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "fmt/format.h"
#include "launcher/coordinator/coordinator.h"
#include "launcher/worker/engine_hooks.h"
#include "launcher/worker/metric_outbox.h"
#include "launcher/worker/shard_reads.h"
#include "parallelism/mesh/mesh.h"
#include "runtime/comm/factory.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"
#include "runtime/job/validate.h"
#include "train/trainer.h"

namespace mt::worker {
namespace {

namespace v1 = meshtrain::v1;
using Clock = std::chrono::steady_clock;

// Every kAskEvery-th heartbeat asks for an answer: it proves the coordinator is there, and a
// STOP_* the coordinator sent meanwhile arrives with it (so within kAskEvery beats).
constexpr int kAskEvery = 4;

// Renews the lease every heartbeat_s until stopped; on STOP_* calls on_stop.
class Heartbeat {
 public:
  Heartbeat(coord::CoordinatorClient& client, const WorkerOptions& o, const v1::JoinReply& join,
            const train::LiveProgress& live, ShardReads& reads, MetricOutbox& metrics)
      : client_(client), o_(o), join_(join), live_(live), reads_(reads), metrics_(metrics) {}
  ~Heartbeat() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  // From now on heartbeats report this backend's last collective.
  void Watch(const comm::Backend* comm) { comm_.store(comm); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      if (channel_) channel_->Cancel();  // a beat blocked on a hung coordinator
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  v1::HeartbeatRequest Request() const {
    v1::HeartbeatRequest r;
    r.set_job_id(o_.job_id);
    r.set_generation(join_.generation());
    r.set_rank(join_.rank());
    r.set_step(live_.step.load());
    r.set_phase(train::PhaseName(live_.phase.load()));
    r.set_tokens_per_s(live_.tokens_per_s.load());
    if (const comm::Backend* comm = comm_.load()) {
      Describe("world", *comm, r.mutable_last_collective());
    }
    live_.ForEachComm([&](const std::string& name, const comm::Backend& comm) {
      v1::CollectiveInfo c;
      if (Describe(name, comm, &c)) *r.add_collectives() = std::move(c);
    });
    return r;
  }

  // The last op of `comm`'s flight recorder into `c`; false when it ran none.
  static bool Describe(const std::string& name, const comm::Backend& comm, v1::CollectiveInfo* c) {
    const std::optional<comm::OpRecord> last = comm.recorder().Last();
    if (!last) return false;
    c->set_comm(name);
    c->set_seq(last->seq);
    c->set_op(std::string(last->op));
    c->set_bytes(last->bytes);
    c->set_state(std::string(comm::OpStateName(last->state)));
    c->set_age_s(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - last->queued).count());
    return true;
  }

  void Loop() {
    const auto period = std::chrono::duration<double>(join_.heartbeat_s());
    // The coordinator is given up after the rendezvous timeout without an answer.
    const double give_up_s = o_.spec.fault_tolerance().rendezvous_timeout_s();
    auto last_ok = Clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    channel_ = client_.OpenHeartbeats(std::max(60.0, 30 * join_.heartbeat_s()));
    for (int64_t beat = 0; !stop_; ++beat) {
      v1::HeartbeatRequest request = Request();
      request.set_want_reply(beat % kAskEvery == 0);
      reads_.TakeInto(request);
      metrics_.TakeInto(request);
      lock.unlock();
      auto reply = channel_->Beat(request);
      lock.lock();
      if (!reply.ok()) {
        reads_.Restore(request);
        metrics_.Restore(request);
      }
      if (stop_) break;
      if (reply.ok()) {
        if (reply->has_value()) {
          last_ok = Clock::now();
          if ((*reply)->action() != v1::CONTINUE) Stop(**reply);
        }
      } else if (std::chrono::duration<double>(Clock::now() - last_ok).count() > give_up_s) {
        o_.on_stop(coord::kExitCoordinatorLost,
                   fmt::format("the coordinator has not answered for {} s: {}", give_up_s,
                               std::string(reply.status().message())));
      }
      // The next beat after a period, or as soon as the step moves (checked every 100 ms):
      // `meshtrain status` shows the current step, not one a heartbeat old.
      const int64_t sent_step = request.step();
      const auto next = Clock::now() + std::chrono::duration_cast<Clock::duration>(period);
      while (!stop_ && Clock::now() < next && live_.step.load() == sent_step) {
        cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_; });
      }
    }
    channel_.reset();
  }

  void Stop(const v1::HeartbeatReply& reply) {
    switch (reply.action()) {
      case v1::STOP_RESTART:
        o_.on_stop(coord::kExitRestart, "stopping for a restart: " + reply.message());
        break;
      case v1::STOP_DONE:
        o_.on_stop(0, "the job is over: " + reply.message());
        break;
      default:
        o_.on_stop(1, "the job failed: " + reply.message());
    }
  }

  coord::CoordinatorClient& client_;
  const WorkerOptions& o_;
  const v1::JoinReply& join_;
  const train::LiveProgress& live_;
  ShardReads& reads_;
  MetricOutbox& metrics_;
  std::atomic<const comm::Backend*> comm_{nullptr};
  std::unique_ptr<coord::HeartbeatChannel> channel_;  // guarded by mu_ for Cancel
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

absl::StatusOr<v1::JoinReply> Join(coord::CoordinatorClient& client, const WorkerOptions& o) {
  v1::JoinRequest req;
  req.set_job_id(o.job_id);
  req.set_host(log::HostName());
  req.set_pid(getpid());
  req.set_worker_id(fmt::format("{}:{}", req.host(), req.pid()));
  req.set_slot(o.slot);
  req.set_requested_rank(o.requested_rank);
  MT_LOG(kInfo, kCoord, "joining job {} at {} as {}{}", o.job_id, o.coordinator.address,
         req.worker_id(), o.requested_rank >= 0 ? fmt::format(" (rank {})", o.requested_rank) : "");
  const double timeout = o.spec.fault_tolerance().rendezvous_timeout_s() + 10;
  return client.Join(req, timeout);
}

// A failure that most likely comes from a peer's death (a collective broke): the
// coordinator's verdict (STOP_RESTART naming the dead rank) is better than our symptom.
bool LooksLikePeerFailure(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
         s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kUnknown || s.code() == absl::StatusCode::kInternal;
}

void ReportFinish(coord::CoordinatorClient& client, const WorkerOptions& o,
                  const v1::JoinReply& join, const absl::Status& outcome, ShardReads& reads,
                  MetricOutbox& metrics) {
  v1::FinishRequest req;
  reads.TakeInto(req);
  metrics.TakeInto(req);
  req.set_job_id(o.job_id);
  req.set_generation(join.generation());
  req.set_rank(join.rank());
  req.set_ok(outcome.ok());
  req.set_error(std::string(outcome.message()));
  if (absl::Status s = client.Finish(req); !s.ok()) {
    MT_LOG(kWarn, kCoord, "could not report the outcome: {}", std::string(s.message()));
  }
}

}  // namespace

absl::StatusOr<WorkerResult> RunWorker(const WorkerOptions& o) {
  MT_ASSIGN_OR_RETURN(auto client, coord::CoordinatorClient::Connect(o.coordinator));
  MT_ASSIGN_OR_RETURN(v1::JoinReply join, Join(*client, o));
  log::SetRank(join.rank());
  MT_LOG(kInfo, kCoord, "joined: rank {} of {} (generation {}, mesh coords pp={} dp={} tp={})",
         join.rank(), join.world_size(), join.generation(), join.coords().pp(), join.coords().dp(),
         join.coords().tp());
  if (join.rank() == 0 && join.world_size() > 1) {
    MT_LOG(kInfo, kCoord, "{}", mesh::Describe({join.dp(), join.tp(), join.pp()}));
  }
  train::LiveProgress live;
  ShardReads reads(o.spec.data().uri());
  MetricOutbox metrics;
  Heartbeat heartbeat(*client, o, join, live, reads, metrics);
  heartbeat.Start();
  std::unique_ptr<comm::Backend> backend;
  absl::Status outcome;
  if (join.world_size() > 1) {
    auto store = comm::MakePrefixStore(join.store_prefix() + "comm", client->Store(o.job_id));
    const std::string name = job::ResolveBackend(o.spec, o.under_mpirun);
    auto made = comm::CreateBackend(name, store, join.rank(), join.world_size());
    if (made.ok()) {
      backend = std::move(*made);
      heartbeat.Watch(backend.get());
    } else {
      outcome = Annotate(made.status(), "creating the " + name + " backend");
    }
  }
  if (outcome.ok()) {
    train::TrainOptions train;
    train.spec = o.spec;
    train.run_dir = o.run_dir;
    BindRegistryHooks(o.spec, o.run_dir, train);
    train.quiet = join.rank() != 0;
    train.comm = backend.get();
    train.live = &live;
    train.on_shard_read = [&reads](const data::ShardInfo& shard) { reads.Add(shard); };
    train.on_metrics = [&metrics](int64_t step, const train::TrainOptions::Scalars& values) {
      metrics.Add(step, values);
    };
    // A restarted world continues from the last committed checkpoint (DESIGN §3 recovery).
    train.resume = join.generation() > 1 ? "latest" : o.resume;
    train.allow_job_change = o.allow_job_change;
    train.report_checkpoint = [&](const ckpt::Manifest& fields) {
      v1::CheckpointReport report;
      report.set_job_id(o.job_id);
      report.set_generation(join.generation());
      report.set_rank(join.rank());
      report.set_manifest_json(ckpt::ManifestToJson(fields));
      return client->ReportCheckpoint(report).status();
    };
    train.generation = join.generation();
    train.restarts = join.restarts();
    auto summary = train::Train(train);
    outcome = summary.status();
  }
  if (!outcome.ok() && join.world_size() > 1 && LooksLikePeerFailure(outcome)) {
    // Keep heartbeating: if a peer died, the coordinator's STOP arrives within a lease plus
    // the beats between two answered ones.
    const double wait_s = (join.lease_factor() + kAskEvery + 1) * join.heartbeat_s() + 1;
    MT_LOG(kWarn, kCoord, "{}; waiting up to {:.0f} s for the coordinator's verdict",
           std::string(outcome.message()), wait_s);
    std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
  }
  heartbeat.Stop();
  ReportFinish(*client, o, join, outcome, reads, metrics);
  if (!outcome.ok()) {
    return absl::Status(outcome.code(),
                        fmt::format("rank {}: {}", join.rank(), std::string(outcome.message())));
  }
  return WorkerResult{join.rank(), join.generation()};
}

}  // namespace mt::worker
