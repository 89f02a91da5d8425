// The coordinator's logic (DESIGN §3 "Coordinator"), free of gRPC so it is tested directly:
// rendezvous into generations, leases renewed by heartbeats, failure -> restart or fail,
// worker outcomes, the job status, and the small persisted state that lets a restarted
// coordinator continue the job. service.h puts it on the network.
//
// Life of a job: generation 1 opens for rendezvous; when world_size workers joined, each gets
// its rank and the phase is running. A failed rank (Finish with an error, a launcher-reported
// exit, or a lease missed for lease_s = lease_factor * heartbeat_s) either opens generation
// g+1 (restarts < max_restarts; survivors are told STOP_RESTART by their next heartbeat) or
// fails the job with an error naming the rank and the cause. When every rank finished, the
// job succeeded.
//
// Thread safety: every method may be called from any thread. Join completions run without
// the lock held, exactly once, possibly on another caller's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checkpoint/store/committer.h"
#include "launcher/coordinator/control_feed.h"
#include "launcher/coordinator/data_audit.h"
#include "launcher/coordinator/kv.h"
#include "meshtrain/v1/coordinator.pb.h"
#include "runtime/comm/store.h"
#include "runtime/metrics/prometheus.h"

namespace mt::coord {

namespace v1 = meshtrain::v1;

struct CoordinatorConfig {
  std::string job_id;
  int world_size = 1;
  int dp = 1, tp = 1, pp = 1;
  double heartbeat_s = 2;
  double lease_factor = 1.5;  // a rank is dead after lease_factor * heartbeat_s of silence
  double rendezvous_timeout_s = 120;
  int max_restarts = 0;
  std::string data_audit_path;   // where shard reads are recorded (data_audit.h); empty: not kept
  std::string checkpoint_store;  // the job's checkpoint.store; empty: no checkpoints
  int checkpoint_keep_last = 3;
  // The checkpoint versions retention keeps besides the newest (those the job's registry
  // references), given the store's URI: control::ProtectedCheckpoints. Unset: none.
  std::function<ckpt::Committer::Protected(const std::string& store_uri)> protect;
  // The job's control service: audit records of shards read and checkpoints committed, and
  // (when it forwards them) the training metrics workers send with heartbeats. Null: none.
  std::shared_ptr<ControlFeed> feed;
};

using Clock = std::function<SteadyTime()>;
using JoinDone = std::function<void(absl::StatusOr<v1::JoinReply>)>;

// Exit code of a worker told STOP_RESTART: its launcher starts the world again at the next
// generation (launcher/worker exits with it, launcher/local recognises it).
constexpr int kExitRestart = 3;
// Exit code of a worker that cannot reach its coordinator (it never answered, or stopped
// answering): retryable — Kubernetes replaces the pod, which joins again once the
// coordinator is back (launcher/k8s counts it against backoffLimitPerIndex).
constexpr int kExitCoordinatorLost = 4;

// Why a Join was refused, as a payload of its FailedPrecondition status (it crosses gRPC,
// runtime/rpc): "closed" (the generation's rendezvous is complete), "succeeded" or "failed"
// (the job is over). A replacement pod picks its exit code by it (launcher/cli/worker).
inline constexpr char kJoinRefusal[] = "type.meshtrain.dev/join-refusal";

enum class Phase { kRendezvous, kRunning, kSucceeded, kFailed };
std::string_view PhaseName(Phase p);

// A member's state in its generation: joined (waiting for the world), running (training),
// finished (reported success), dead (failed, or its lease ran out). Status shows the name.
enum class RankState { kJoined, kRunning, kFinished, kDead };
std::string_view RankStateName(RankState s);

// Upper bounds (seconds) of the step-time histogram: 5 ms to 60 s.
std::vector<double> StepBuckets();

class Coordinator {
 public:
  // `state` persists the job's small state (may be null: nothing persisted). When it holds
  // the state of this job id, the coordinator continues it: the next generation, the same
  // restart count, or the finished outcome.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(CoordinatorConfig config,
                                                             std::shared_ptr<comm::Store> state,
                                                             Clock clock = {});

  // Completes `done` when the generation's world has joined, or with an error: another job
  // id, rendezvous closed, job over, rank taken or out of range, rendezvous timeout.
  void Join(const v1::JoinRequest& request, JoinDone done);
  absl::StatusOr<v1::HeartbeatReply> Heartbeat(const v1::HeartbeatRequest& request);
  absl::Status Finish(const v1::FinishRequest& request);
  // Commits the version once every rank reported its shard (checkpoint/store/committer.h).
  absl::StatusOr<v1::CheckpointReply> ReportCheckpoint(const v1::CheckpointReport& report);
  // A launcher saw the process of (generation, rank) exit abnormally; `cause` says how.
  void ReportExit(int64_t generation, int rank, const std::string& cause);
  // Ends the job as failed (e.g. the user pressed Ctrl-C); pending joins fail.
  void Cancel(const std::string& reason);
  // Fails pending joins (the server is going away) without changing the job's state, so a
  // restarted coordinator continues the job.
  void Close();
  // Checks leases and the rendezvous deadline; call every few tens of milliseconds.
  void Tick();

  v1::JobStatus Status() const;
  // The job in the Prometheus text format (coordinator_metrics.cc): generation, restarts,
  // per-rank step, tokens/s and heartbeat age, shards read, checkpoint version, the last
  // training metrics workers sent, and a step-time histogram per rank (from heartbeats: time
  // per step between two of them).
  std::string PrometheusText() const;
  absl::Status CheckJob(const std::string& job_id) const;
  Phase phase() const;
  int64_t generation() const;
  // Blocks until the job succeeded or failed, or `timeout` passed; returns the phase.
  Phase WaitDone(std::chrono::milliseconds timeout) const;
  // The Store service's data; keys of generation g live under StorePrefix(g).
  AsyncKv& kv() { return kv_; }
  static std::string StorePrefix(int64_t generation);
  const CoordinatorConfig& config() const { return config_; }

 private:
  struct Member {
    std::string worker_id, host;
    int slot = 0;
    int64_t pid = 0;
    int rank = -1;  // requested (pending) or assigned
    JoinDone done;  // pending joins only
    RankState state = RankState::kJoined;
    int64_t step = 0;
    std::string phase;
    v1::CollectiveInfo last_collective;
    google::protobuf::RepeatedPtrField<v1::CollectiveInfo> collectives;
    double tokens_per_s = 0;
    SteadyTime last_heartbeat;
    int64_t timed_step = -1;  // step and time of the heartbeat step time is measured from
    SteadyTime timed_at;
  };
  Coordinator(CoordinatorConfig config, std::shared_ptr<comm::Store> state, Clock clock);
  absl::Status Restore();
  void OpenGenerationLocked(int64_t generation, std::vector<std::function<void()>>& ready);
  void CloseRendezvousLocked(std::vector<std::function<void()>>& ready);
  void FailRankLocked(int rank, const std::string& cause,
                      std::vector<std::function<void()>>& ready);
  void FailJobLocked(const std::string& error, std::vector<std::function<void()>>& ready);
  void FailPendingLocked(const absl::Status& why, std::vector<std::function<void()>>& ready);
  absl::Status AdmitLocked(const v1::JoinRequest& r) const;
  std::string DescribeLocked(int rank) const;
  std::string MissingLocked() const;
  void PersistLocked();
  v1::HeartbeatReply StopReplyLocked(int64_t generation) const;
  std::vector<std::string> StuckLocked(SteadyTime now) const;
  // A worker's report (heartbeat or finish): its shard reads and metric points.
  template <typename Report>
  void Ingest(const Report& r);

  CoordinatorConfig config_;
  std::shared_ptr<comm::Store> state_;
  Clock clock_;
  AsyncKv kv_;
  std::unique_ptr<DataAudit> audit_;
  std::unique_ptr<ckpt::Committer> committer_;      // null without a checkpoint store
  std::map<int, metrics::Histogram> step_seconds_;  // by rank, over the job's generations
  std::map<std::string, double> train_metrics_;     // last value by name (guarded by mu_)

  mutable std::mutex mu_;
  mutable std::condition_variable done_cv_;
  Phase phase_ = Phase::kRendezvous;
  int64_t generation_ = 0;
  int restarts_ = 0;
  std::string error_;
  SteadyTime rendezvous_deadline_;
  std::vector<Member> pending_;  // joiners of the open rendezvous, in join order
  std::vector<Member> members_;  // by rank once running
};

}  // namespace mt::coord
