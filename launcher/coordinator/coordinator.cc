// Coordinator logic (see coordinator.h).
#include "launcher/coordinator/coordinator.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "control/registry/registry.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nlohmann/json.hpp"
#include "parallelism/mesh/mesh.h"
#include "runtime/core/logging.h"
#include "runtime/core/status.h"

namespace mt::coord {
namespace {

using Ready = std::vector<std::function<void()>>;

void RunReady(Ready& ready) {
  for (auto& f : ready) f();
}

double SecondsBetween(SteadyTime a, SteadyTime b) {
  return std::chrono::duration<double>(b - a).count();
}

std::chrono::steady_clock::duration FromSeconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

std::string StateKey(const std::string& job_id) { return "coordinator/" + job_id + "/state"; }

}  // namespace

std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kRendezvous:
      return "rendezvous";
    case Phase::kRunning:
      return "running";
    case Phase::kSucceeded:
      return "succeeded";
    case Phase::kFailed:
      return "failed";
  }
  return "?";
}

std::string_view RankStateName(RankState s) {
  switch (s) {
    case RankState::kJoined:
      return "joined";
    case RankState::kRunning:
      return "running";
    case RankState::kFinished:
      return "finished";
    case RankState::kDead:
      return "dead";
  }
  return "?";
}

std::string Coordinator::StorePrefix(int64_t generation) { return fmt::format("g{}/", generation); }

Coordinator::Coordinator(CoordinatorConfig config, std::shared_ptr<comm::Store> state, Clock clock)
    : config_(std::move(config)), state_(std::move(state)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(CoordinatorConfig config,
                                                                 std::shared_ptr<comm::Store> state,
                                                                 Clock clock) {
  if (config.job_id.empty() || config.world_size < 1 || config.heartbeat_s <= 0) {
    return absl::InvalidArgumentError(
        "coordinator: job id, world size >= 1 and heartbeat_s > 0 are required");
  }
  std::unique_ptr<Coordinator> c(
      new Coordinator(std::move(config), std::move(state), std::move(clock)));
  if (absl::Status s = c->Restore(); !s.ok()) return s;
  auto audit = DataAudit::Open(c->config_.data_audit_path);
  if (!audit.ok()) return audit.status();
  c->audit_ = std::move(*audit);
  if (!c->config_.checkpoint_store.empty()) {
    auto store = ckpt::CheckpointStore::Open(c->config_.checkpoint_store);
    if (!store.ok()) return Annotate(store.status(), "checkpoint.store");
    ckpt::Committer::Protected protect;
    if (c->config_.protect) protect = c->config_.protect((*store)->uri());
    ckpt::Committer::OnCommit on_commit;
    if (c->config_.feed) {
      on_commit = [feed = c->config_.feed, job = c->config_.job_id,
                   uri = (*store)->uri()](const ckpt::Manifest& m) {
        feed->Audit("checkpoint committed", CommitRecord(job, uri, m));
      };
    }
    c->committer_ = std::make_unique<ckpt::Committer>(*store, c->config_.world_size,
                                                      c->config_.checkpoint_keep_last,
                                                      std::move(protect), std::move(on_commit));
  }
  return c;
}

// ---- persisted state: {job_id, generation, restarts, phase, error} ----

absl::Status Coordinator::Restore() {
  Ready ready;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t last_generation = 0;
  if (state_) {
    auto saved = state_->Get(StateKey(config_.job_id), comm::Millis(0));
    if (saved.ok()) {
      auto j = nlohmann::json::parse(*saved, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("generation")) {
        return absl::DataLossError(fmt::format(
            "coordinator: saved state of job {} is unreadable: {}", config_.job_id, *saved));
      }
      last_generation = j["generation"].get<int64_t>();
      restarts_ = j.value("restarts", 0);
      const std::string phase = j.value("phase", "running");
      MT_LOG(kInfo, kCoord, "continuing job {}: last generation {}, {} restarts, {}",
             config_.job_id, last_generation, restarts_, phase);
      if (phase == "succeeded" || phase == "failed") {
        generation_ = last_generation;
        phase_ = phase == "succeeded" ? Phase::kSucceeded : Phase::kFailed;
        error_ = j.value("error", "");
        return absl::OkStatus();
      }
    }
  }
  OpenGenerationLocked(last_generation + 1, ready);
  return absl::OkStatus();
}

void Coordinator::PersistLocked() {
  if (!state_) return;
  nlohmann::json j = {{"job_id", config_.job_id},
                      {"generation", generation_},
                      {"restarts", restarts_},
                      {"phase", std::string(PhaseName(phase_))},
                      {"error", error_}};
  if (absl::Status s = state_->Set(StateKey(config_.job_id), j.dump()); !s.ok()) {
    MT_LOG(kWarn, kCoord, "could not persist the coordinator state: {}", std::string(s.message()));
  }
}

// ---- generations and rendezvous ----

void Coordinator::OpenGenerationLocked(int64_t generation, Ready& ready) {
  FailPendingLocked(
      absl::AbortedError(fmt::format("rendezvous of generation {} abandoned: generation {} opened",
                                     generation_, generation)),
      ready);
  if (generation_ > 0) kv_.DropPrefix(StorePrefix(generation_));
  generation_ = generation;
  phase_ = Phase::kRendezvous;
  members_.clear();
  rendezvous_deadline_ = clock_() + FromSeconds(config_.rendezvous_timeout_s);
  PersistLocked();
  MT_LOG(kInfo, kCoord, "job {}: generation {} open for rendezvous ({} ranks, timeout {} s)",
         config_.job_id, generation_, config_.world_size, config_.rendezvous_timeout_s);
}

absl::Status Coordinator::CheckJob(const std::string& job_id) const {
  if (job_id == config_.job_id) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "job id '{}' does not match this coordinator's job '{}' (was the worker started with "
      "another job file?)",
      job_id, config_.job_id));
}

absl::Status Coordinator::AdmitLocked(const v1::JoinRequest& r) const {
  MT_RETURN_IF_ERROR(CheckJob(r.job_id()));
  if (phase_ == Phase::kSucceeded || phase_ == Phase::kFailed) {
    absl::Status over = absl::FailedPreconditionError(
        fmt::format("job {} is over ({}){}", config_.job_id, PhaseName(phase_),
                    error_.empty() ? "" : ": " + error_));
    over.SetPayload(kJoinRefusal, absl::Cord(phase_ == Phase::kSucceeded ? "succeeded" : "failed"));
    return over;
  }
  if (phase_ == Phase::kRunning) {
    absl::Status closed = absl::FailedPreconditionError(fmt::format(
        "rendezvous of generation {} is closed: all {} ranks joined; worker {} can join only "
        "when a failure opens the next generation",
        generation_, config_.world_size, r.worker_id()));
    closed.SetPayload(kJoinRefusal, absl::Cord("closed"));
    return closed;
  }
  const int want = r.requested_rank();
  if (want >= config_.world_size || want < -1) {
    return absl::InvalidArgumentError(fmt::format(
        "requested rank {} is outside the world of {} ranks", want, config_.world_size));
  }
  for (const Member& m : pending_) {
    if (want >= 0 && m.rank == want && m.worker_id != r.worker_id()) {
      return absl::AlreadyExistsError(
          fmt::format("rank {} was already joined by worker {} (host {}, pid {})", want,
                      m.worker_id, m.host, m.pid));
    }
  }
  return absl::OkStatus();
}

void Coordinator::Join(const v1::JoinRequest& r, JoinDone done) {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = AdmitLocked(r); !s.ok()) {
      ready.push_back([done = std::move(done), s] { done(s); });
    } else {
      // A worker retrying its Join (lost reply) replaces its earlier entry.
      auto same = std::find_if(pending_.begin(), pending_.end(),
                               [&](const Member& m) { return m.worker_id == r.worker_id(); });
      if (same != pending_.end()) {
        ready.push_back([old = std::move(same->done)] {
          old(absl::AbortedError("superseded by a newer Join of the same worker"));
        });
        pending_.erase(same);
      }
      Member m;
      m.worker_id = r.worker_id();
      m.host = r.host();
      m.slot = r.slot();
      m.pid = r.pid();
      m.rank = r.requested_rank();
      m.done = std::move(done);
      pending_.push_back(std::move(m));
      if (static_cast<int>(pending_.size()) == config_.world_size) CloseRendezvousLocked(ready);
    }
  }
  RunReady(ready);
}

void Coordinator::CloseRendezvousLocked(Ready& ready) {
  // Ranks asked for are kept; the others take the free ranks in join order.
  std::vector<bool> taken(config_.world_size, false);
  for (const Member& m : pending_) {
    if (m.rank >= 0) taken[m.rank] = true;
  }
  int next = 0;
  for (Member& m : pending_) {
    if (m.rank >= 0) continue;
    while (taken[next]) ++next;
    m.rank = next;
    taken[next] = true;
  }
  members_.assign(config_.world_size, Member{});
  const SteadyTime now = clock_();
  for (Member& m : pending_) {
    v1::JoinReply reply;
    reply.set_job_id(config_.job_id);
    reply.set_generation(generation_);
    reply.set_rank(m.rank);
    reply.set_world_size(config_.world_size);
    const mesh::Coords c = mesh::CoordsOf({config_.dp, config_.tp, config_.pp}, m.rank);
    reply.mutable_coords()->set_tp(c.tp);
    reply.mutable_coords()->set_dp(c.dp);
    reply.mutable_coords()->set_pp(c.pp);
    reply.set_dp(config_.dp);
    reply.set_tp(config_.tp);
    reply.set_pp(config_.pp);
    reply.set_store_prefix(StorePrefix(generation_));
    reply.set_heartbeat_s(config_.heartbeat_s);
    reply.set_lease_factor(config_.lease_factor);
    reply.set_restarts(restarts_);
    ready.push_back([done = std::move(m.done), reply] { done(reply); });
    m.last_heartbeat = now;
    m.state = RankState::kRunning;
    members_[m.rank] = std::move(m);
  }
  pending_.clear();
  phase_ = Phase::kRunning;
  PersistLocked();
  MT_LOG(kInfo, kCoord, "job {}: generation {} formed, {} ranks", config_.job_id, generation_,
         config_.world_size);
}

void Coordinator::FailPendingLocked(const absl::Status& why, Ready& ready) {
  for (Member& m : pending_) {
    if (m.done) ready.push_back([done = std::move(m.done), why] { done(why); });
  }
  pending_.clear();
}

std::string Coordinator::MissingLocked() const {
  std::vector<bool> taken(config_.world_size, false);
  int anonymous = 0;
  for (const Member& m : pending_) {
    if (m.rank >= 0) {
      taken[m.rank] = true;
    } else {
      ++anonymous;
    }
  }
  std::vector<int> missing;
  for (int r = 0; r < config_.world_size; ++r) {
    if (!taken[r]) missing.push_back(r);
  }
  // Joiners without a requested rank fill some of the missing ranks; name the count then.
  if (anonymous > 0) {
    return fmt::format("{} more worker(s) (free ranks: {})",
                       config_.world_size - static_cast<int>(pending_.size()),
                       fmt::join(missing, ", "));
  }
  return fmt::format("ranks {}", fmt::join(missing, ", "));
}

// ---- failures ----

std::string Coordinator::DescribeLocked(int rank) const {
  if (rank < 0 || rank >= static_cast<int>(members_.size()) || members_[rank].worker_id.empty()) {
    return fmt::format("rank {}", rank);
  }
  const Member& m = members_[rank];
  return fmt::format("rank {} (worker {}, host {}, pid {})", rank, m.worker_id, m.host, m.pid);
}

void Coordinator::FailJobLocked(const std::string& error, Ready& ready) {
  phase_ = Phase::kFailed;
  error_ = error;
  FailPendingLocked(absl::AbortedError(error), ready);
  PersistLocked();
  done_cv_.notify_all();
  MT_LOG(kError, kCoord, "job {} failed: {}", config_.job_id, error);
}

void Coordinator::FailRankLocked(int rank, const std::string& cause, Ready& ready) {
  const std::string what = fmt::format("{} {}", DescribeLocked(rank), cause);
  if (rank >= 0 && rank < static_cast<int>(members_.size()))
    members_[rank].state = RankState::kDead;
  if (restarts_ < config_.max_restarts) {
    ++restarts_;
    MT_LOG(kWarn, kCoord, "generation {}: {}; restart {} of {}", generation_, what, restarts_,
           config_.max_restarts);
    error_ = what;  // the last failure, shown in status while the job recovers
    OpenGenerationLocked(generation_ + 1, ready);
    return;
  }
  FailJobLocked(fmt::format("{}; no restarts left (fault_tolerance.max_restarts = {})", what,
                            config_.max_restarts),
                ready);
}

void Coordinator::ReportExit(int64_t generation, int rank, const std::string& cause) {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_ || phase_ == Phase::kSucceeded || phase_ == Phase::kFailed) {
      return;  // a worker of a generation already given up, or a job already over
    }
    if (rank < 0 || rank >= config_.world_size) return;
    if (phase_ == Phase::kRunning && members_[rank].state == RankState::kFinished) return;
    FailRankLocked(rank, "exited: " + cause, ready);
  }
  RunReady(ready);
}

void Coordinator::Cancel(const std::string& reason) {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::kSucceeded || phase_ == Phase::kFailed) return;
    FailJobLocked(reason, ready);
  }
  RunReady(ready);
}

void Coordinator::Close() {
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FailPendingLocked(absl::UnavailableError("the coordinator is shutting down"), ready);
  }
  RunReady(ready);
}

void Coordinator::Tick() {
  Ready ready;
  const SteadyTime now = clock_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::kRendezvous && now >= rendezvous_deadline_) {
      FailJobLocked(fmt::format("rendezvous of generation {} timed out after {} s "
                                "(fault_tolerance.rendezvous_timeout_s): {} of {} joined; "
                                "missing {}",
                                generation_, config_.rendezvous_timeout_s, pending_.size(),
                                config_.world_size, MissingLocked()),
                    ready);
    } else if (phase_ == Phase::kRunning) {
      const double lease = config_.lease_factor * config_.heartbeat_s;
      for (const Member& m : members_) {
        const double age = SecondsBetween(m.last_heartbeat, now);
        if (m.state == RankState::kRunning && age > lease) {
          FailRankLocked(m.rank,
                         fmt::format("missed its heartbeats: none for {:.2f} s (lease {:.2f} s = "
                                     "{} x fault_tolerance.heartbeat_s)",
                                     age, lease, config_.lease_factor),
                         ready);
          break;  // the generation changed or the job failed
        }
      }
    }
  }
  RunReady(ready);
  kv_.Expire(now);
}

// ---- heartbeats and outcomes ----

v1::HeartbeatReply Coordinator::StopReplyLocked(int64_t generation) const {
  v1::HeartbeatReply reply;
  if (phase_ == Phase::kFailed) {
    reply.set_action(v1::STOP_FAILED);
    reply.set_message(error_);
  } else if (phase_ == Phase::kSucceeded) {
    reply.set_action(v1::STOP_DONE);
    reply.set_message("the job succeeded");
  } else {
    reply.set_action(v1::STOP_RESTART);
    reply.set_message(fmt::format("generation {} is over ({}); restarting as generation {}",
                                  generation, error_, generation_));
  }
  return reply;
}

template <typename Report>
void Coordinator::Ingest(const Report& r) {
  // Reads and metrics count whatever the generation: they happened.
  std::vector<nlohmann::json> fresh = audit_->Record(r.rank(), r.generation(), r.shards_read());
  if (config_.feed && !fresh.empty()) {
    config_.feed->Audit("data read", {{"job", config_.job_id},
                                      {"rank", r.rank()},
                                      {"generation", r.generation()},
                                      {"shards", std::move(fresh)}});
  }
  if (r.metrics().empty()) return;
  std::vector<control::MetricPoint> points;
  points.reserve(r.metrics_size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const v1::TrainMetric& m : r.metrics()) {
      train_metrics_[m.name()] = m.value();
      points.push_back({m.step(), m.name(), m.value()});
    }
  }
  if (config_.feed) config_.feed->Metrics(std::move(points));
}

absl::StatusOr<v1::HeartbeatReply> Coordinator::Heartbeat(const v1::HeartbeatRequest& r) {
  MT_RETURN_IF_ERROR(CheckJob(r.job_id()));
  Ingest(r);
  std::lock_guard<std::mutex> lock(mu_);
  if (r.generation() != generation_ || phase_ != Phase::kRunning) {
    if (r.generation() == generation_ && phase_ == Phase::kSucceeded) {
      v1::HeartbeatReply reply;
      reply.set_action(v1::STOP_DONE);
      return reply;
    }
    return StopReplyLocked(r.generation());
  }
  if (r.rank() < 0 || r.rank() >= config_.world_size) {
    return absl::InvalidArgumentError(fmt::format("heartbeat from rank {} outside the world of {}",
                                                  r.rank(), config_.world_size));
  }
  Member& m = members_[r.rank()];
  m.last_heartbeat = clock_();
  if (m.timed_step >= 0 && r.step() > m.timed_step) {
    const double dt = std::chrono::duration<double>(m.last_heartbeat - m.timed_at).count();
    auto [it, fresh] = step_seconds_.try_emplace(r.rank(), metrics::Histogram(StepBuckets()));
    it->second.Observe(dt / static_cast<double>(r.step() - m.timed_step));
  }
  if (r.step() != m.timed_step) {
    m.timed_step = r.step();
    m.timed_at = m.last_heartbeat;
  }
  m.step = r.step();
  m.phase = r.phase();
  m.tokens_per_s = r.tokens_per_s();
  m.last_collective = r.last_collective();
  m.collectives = r.collectives();
  v1::HeartbeatReply reply;
  reply.set_action(v1::CONTINUE);
  return reply;
}

absl::StatusOr<v1::CheckpointReply> Coordinator::ReportCheckpoint(const v1::CheckpointReport& r) {
  MT_RETURN_IF_ERROR(CheckJob(r.job_id()));
  if (!committer_) {
    return absl::FailedPreconditionError("this job has no checkpoint store (checkpoint.store)");
  }
  MT_ASSIGN_OR_RETURN(ckpt::Manifest m, ckpt::ManifestFromJson(
                                            r.manifest_json(),
                                            fmt::format("checkpoint report of rank {}", r.rank())));
  // The commit writes to storage: done outside the coordinator's lock.
  MT_ASSIGN_OR_RETURN(bool committed, committer_->Report(m, m.files.front()));
  v1::CheckpointReply reply;
  reply.set_committed(committed);
  return reply;
}

absl::Status Coordinator::Finish(const v1::FinishRequest& r) {
  MT_RETURN_IF_ERROR(CheckJob(r.job_id()));
  Ingest(r);
  Ready ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.generation() != generation_ || phase_ != Phase::kRunning) return absl::OkStatus();
    if (r.rank() < 0 || r.rank() >= config_.world_size) {
      return absl::InvalidArgumentError(
          fmt::format("finish from rank {} outside the world of {}", r.rank(), config_.world_size));
    }
    if (!r.ok()) {
      FailRankLocked(r.rank(), "failed: " + r.error(), ready);
    } else {
      members_[r.rank()].state = RankState::kFinished;
      const bool all = std::all_of(members_.begin(), members_.end(),
                                   [](const Member& m) { return m.state == RankState::kFinished; });
      if (all) {
        phase_ = Phase::kSucceeded;
        error_.clear();
        PersistLocked();
        done_cv_.notify_all();
        MT_LOG(kInfo, kCoord, "job {} succeeded (generation {}, {} restarts)", config_.job_id,
               generation_, restarts_);
      }
    }
  }
  RunReady(ready);
  return absl::OkStatus();
}

// ---- status ----

std::vector<std::string> Coordinator::StuckLocked(SteadyTime now) const {
  // A rank is stuck when the others already run a later collective that has waited for more
  // than two heartbeat intervals: they wait for it.
  std::vector<std::string> stuck;
  uint64_t max_seq = 0;
  double max_age = 0;
  for (const Member& m : members_) {
    if (m.last_collective.seq() > max_seq) {
      max_seq = m.last_collective.seq();
      max_age = m.last_collective.age_s() + SecondsBetween(m.last_heartbeat, now);
    }
  }
  if (max_seq == 0 || max_age < 2 * config_.heartbeat_s) return stuck;
  for (const Member& m : members_) {
    if (m.state == RankState::kRunning && m.last_collective.seq() < max_seq) {
      stuck.push_back(fmt::format("rank {}: at {} #{} ({}), others wait in #{} for {:.1f} s",
                                  m.rank, m.last_collective.op(), m.last_collective.seq(),
                                  m.last_collective.state(), max_seq, max_age));
    }
  }
  return stuck;
}

v1::JobStatus Coordinator::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  const SteadyTime now = clock_();
  v1::JobStatus s;
  s.set_job_id(config_.job_id);
  s.set_state(std::string(PhaseName(phase_)));
  s.set_generation(generation_);
  s.set_restarts(restarts_);
  s.set_max_restarts(config_.max_restarts);
  s.set_world_size(config_.world_size);
  s.set_joined(phase_ == Phase::kRendezvous ? static_cast<int>(pending_.size())
                                            : static_cast<int>(members_.size()));
  s.set_error(error_);
  s.set_shards_read(audit_->shards());
  if (committer_) s.set_checkpoint_version(committer_->last_committed());
  const auto& list = phase_ == Phase::kRendezvous ? pending_ : members_;
  for (const Member& m : list) {
    v1::RankStatus* r = s.add_ranks();
    r->set_rank(m.rank);
    r->set_worker_id(m.worker_id);
    r->set_host(m.host);
    r->set_pid(m.pid);
    r->set_state(std::string(RankStateName(m.state)));
    r->set_step(m.step);
    r->set_phase(m.phase);
    *r->mutable_last_collective() = m.last_collective;
    *r->mutable_collectives() = m.collectives;
    r->set_heartbeat_age_s(phase_ == Phase::kRendezvous ? 0
                                                        : SecondsBetween(m.last_heartbeat, now));
    r->set_tokens_per_s(m.tokens_per_s);
  }
  for (auto& line : StuckLocked(now)) s.add_stuck(std::move(line));
  return s;
}

Phase Coordinator::phase() const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_;
}

int64_t Coordinator::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

Phase Coordinator::WaitDone(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait_for(lock, timeout,
                    [&] { return phase_ == Phase::kSucceeded || phase_ == Phase::kFailed; });
  return phase_;
}

}  // namespace mt::coord
