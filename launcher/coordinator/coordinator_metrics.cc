// The coordinator's /metrics (see Coordinator::PrometheusText).
#include "fmt/format.h"
#include "launcher/coordinator/coordinator.h"

namespace mt::coord {

std::vector<double> StepBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string Coordinator::PrometheusText() const {
  const v1::JobStatus s = Status();
  const metrics::Labels job = {{"job", s.job_id()}};
  metrics::PromText out;
  out.Family("meshtrain_job_generation", "gauge", "Current generation (1 + restarts so far).");
  out.Sample("meshtrain_job_generation", job, static_cast<double>(s.generation()));
  out.Family("meshtrain_job_restarts_total", "counter", "Restarts of the world.");
  out.Sample("meshtrain_job_restarts_total", job, s.restarts());
  out.Family("meshtrain_job_world_size", "gauge", "Ranks in the world.");
  out.Sample("meshtrain_job_world_size", job, s.world_size());
  out.Family("meshtrain_job_state", "gauge", "1 for the job's state.");
  for (const char* state : {"rendezvous", "running", "succeeded", "failed"}) {
    out.Sample("meshtrain_job_state", {{"job", s.job_id()}, {"state", state}},
               s.state() == state ? 1 : 0);
  }
  out.Family("meshtrain_data_shards_read_total", "counter",
             "Distinct dataset shards the job's workers read (the data audit).");
  out.Sample("meshtrain_data_shards_read_total", job, static_cast<double>(s.shards_read()));
  out.Family("meshtrain_checkpoint_version", "gauge",
             "Last checkpoint version this coordinator committed (0: none).");
  out.Sample("meshtrain_checkpoint_version", job, static_cast<double>(s.checkpoint_version()));
  auto per_rank = [&](const char* name, const char* type, const char* help, auto value) {
    out.Family(name, type, help);
    for (const v1::RankStatus& r : s.ranks()) {
      out.Sample(name, {{"job", s.job_id()}, {"rank", std::to_string(r.rank())}}, value(r));
    }
  };
  per_rank("meshtrain_rank_step", "gauge", "Steps the rank has finished.",
           [](const v1::RankStatus& r) { return static_cast<double>(r.step()); });
  per_rank("meshtrain_rank_tokens_per_second", "gauge", "The rank's last reported throughput.",
           [](const v1::RankStatus& r) { return r.tokens_per_s(); });
  per_rank("meshtrain_rank_heartbeat_age_seconds", "gauge", "Seconds since the rank's heartbeat.",
           [](const v1::RankStatus& r) { return r.heartbeat_age_s(); });
  std::lock_guard<std::mutex> lock(mu_);
  out.Family("meshtrain_train_metric", "gauge", "Last training metric the workers sent.");
  for (const auto& [name, value] : train_metrics_) {
    out.Sample("meshtrain_train_metric", {{"job", s.job_id()}, {"name", name}}, value);
  }
  out.Family("meshtrain_step_seconds", "histogram",
             "Seconds per training step, from the heartbeats' step counts.");
  for (const auto& [rank, h] : step_seconds_) {
    h.Write(out, "meshtrain_step_seconds", {{"job", s.job_id()}, {"rank", std::to_string(rank)}});
  }
  return out.text();
}

}  // namespace mt::coord
