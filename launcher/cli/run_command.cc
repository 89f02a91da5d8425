// `meshtrain run JOB.yaml --run-dir DIR [--nproc N]`: validate the job, then train it. One
// process trains in this process; N > 1 starts the coordinator here and N local workers
// (launcher/local). N defaults to the job's mesh size.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "checkpoint/store/store.h"
#include "control/registry/registry.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "launcher/cli/job_setup.h"
#include "launcher/cli/register_run.h"
#include "launcher/coordinator/data_audit.h"
#include "launcher/local/supervisor.h"
#include "launcher/worker/engine_hooks.h"
#include "launcher/worker/shard_reads.h"
#include "nlohmann/json.hpp"
#include "runtime/core/file.h"
#include "runtime/job/job_id.h"
#include "runtime/job/load.h"
#include "runtime/job/summary.h"
#include "train/preflight.h"
#include "train/start_check.h"
#include "train/trainer.h"

namespace mt::cli {
namespace {

// The control service's part: register the trained model, print the decision.
int Register(const meshtrain::v1::JobSpec& spec, const std::string& run_dir) {
  auto line = RegisterRun(spec, run_dir);
  if (!line.ok()) return Fail("meshtrain run: registering the model", line.status(), kExitFailure);
  std::printf("%s\n", line->c_str());
  return kExitOk;
}

// Waits (a minute at most) for the job's audit records and metrics to reach its control
// service; says so when they could not.
void FlushFeed(coord::ControlFeed& feed) {
  if (!feed.Flush()) {
    std::fprintf(stderr,
                 "meshtrain run: the control service has not taken the run's audit records "
                 "after 60 s; registering anyway\n");
  }
  if (const auto c = feed.counts(); c.failures > 0) {
    std::fprintf(stderr,
                 "meshtrain run: %lld call(s) to the control service failed (audit records "
                 "or metrics lost; see the log)\n",
                 static_cast<long long>(c.failures));
  }
}

// SIGINT / SIGTERM in a one-process run: the trainer stops between steps (TrainOptions::stop);
// a second signal kills at once (SA_RESETHAND).
std::atomic<int> g_stop{0};

void InstallStopHandler() {
  struct sigaction sa {};
  sa.sa_handler = [](int sig) { g_stop.store(sig); };
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// An interrupted run: where it stopped (`what`, when known) and what a rerun resumes from.
// Exit 128 + the signal (130 SIGINT, 143 SIGTERM), as a shell reports it.
int SayInterrupted(const meshtrain::v1::JobSpec& spec, int sig, const std::string& what) {
  std::string resume = "no checkpoint block: a rerun starts from step 0";
  if (spec.has_checkpoint()) {
    resume = fmt::format("no committed checkpoint in {}: a rerun starts from step 0",
                         spec.checkpoint().store());
    auto store = ckpt::CheckpointStore::Open(spec.checkpoint().store());
    auto latest = store.ok() ? (*store)->Latest() : absl::StatusOr<int64_t>(store.status());
    auto m = latest.ok() ? (*store)->ReadManifest(*latest)
                         : absl::StatusOr<ckpt::Manifest>(latest.status());
    if (m.ok()) {
      resume = fmt::format(
          "latest committed checkpoint: version {} (step {}) of {}; run again to "
          "resume from it",
          m->version, m->step, (*store)->uri());
    }
  }
  std::fprintf(stderr, "meshtrain run: %s by SIG%s; %s\n", what.c_str(), sigabbrev_np(sig),
               resume.c_str());
  return 128 + sig;
}

struct RunArgs {
  std::string job;
  std::string run_dir;
  int nproc = 0;  // 0: the mesh size
  SecurityFlags security;
  std::string resume;  // "": the job's checkpoint.resume
  bool allow_job_change = false;
  bool force = false;                  // replace a finished checkpoint-less run's results
  bool results_checked = false;        // `finetune` ran StopAtFinishedResults already
  std::vector<std::string> overrides;  // --set
  // Taken by `finetune` before it writes into the run dir; else RunRun takes them.
  std::shared_ptr<storage::RunHolds> holds;
};

// A run whose checkpoint is at train.steps already: says so (step, version, the registered
// version when summary.json names it) and how to train again; nothing is written.
int SayComplete(const meshtrain::v1::JobSpec& spec, const std::string& run_dir, int64_t step,
                int64_t version, const std::string& store) {
  std::string registered;
  if (auto text = ReadFile(run_dir + "/summary.json"); text.ok()) {
    if (auto as = RegisteredAs(nlohmann::json::parse(*text, nullptr, false))) {
      registered = "; registered as " + *as;
    }
  }
  std::printf(
      "job %s is complete: step %lld of %lld, checkpoint version %lld of %s%s. Nothing was "
      "trained or written.\nTo train further raise train.steps (--set train.steps=N; under a "
      "decaying schedule add --allow-job-change); to train again from scratch use --resume "
      "never with a new checkpoint.store and --run-dir.\n",
      spec.name().c_str(), static_cast<long long>(step),
      static_cast<long long>(spec.train().steps()), static_cast<long long>(version), store.c_str(),
      registered.c_str());
  return kExitOk;
}

// A job without a checkpoint block cannot resume, so running it into a run dir that holds a
// finished run's results (summary.json, model.safetensors, which the registry may hold as a
// version's weights) would train from step 0 and replace them. The same job, finished: says
// it is complete (exit 0). Another job: refused (exit 2) unless --force. nullopt: go on.
std::optional<int> StopAtFinishedResults(const meshtrain::v1::JobSpec& spec,
                                         const std::string& run_dir, bool force, const char* who) {
  if (spec.has_checkpoint()) return std::nullopt;  // CheckStart decides from the checkpoint
  auto text = ReadFile(run_dir + "/summary.json");
  if (!text.ok()) return std::nullopt;  // nothing finished here
  const nlohmann::json prev = nlohmann::json::parse(*text, nullptr, false);
  const std::string prev_job = prev.is_object() ? prev.value("job_id", "") : "";
  const int64_t prev_step = prev.is_object() ? prev.value("final_step", int64_t{0}) : 0;
  const std::optional<std::string> as = RegisteredAs(prev);
  const std::string registered = as ? "; registered as " + *as : "";
  if (force) {
    std::fprintf(stderr, "%s: --force: replacing the results of %s (step %lld%s) in %s\n", who,
                 prev_job.c_str(), static_cast<long long>(prev_step), registered.c_str(),
                 run_dir.c_str());
    return std::nullopt;
  }
  if (prev_job == job::JobId(spec) && prev_step >= spec.train().steps()) {
    std::printf(
        "job %s is complete: step %lld of %lld, results in %s (model.safetensors, "
        "summary.json)%s. Nothing was trained or written.\nThe job has no checkpoint block, so "
        "it cannot resume: to train again from step 0 pass --force (replaces these results) or "
        "use another --run-dir; add a checkpoint block to make reruns resume.\n",
        spec.name().c_str(), static_cast<long long>(prev_step),
        static_cast<long long>(spec.train().steps()), run_dir.c_str(), registered.c_str());
    return kExitOk;
  }
  std::fprintf(stderr,
               "%s: %s holds the results of another run (job %s, step %lld%s): this job has no "
               "checkpoint block to resume from, so it would train from step 0 and replace its "
               "model.safetensors and summary.json. Use another --run-dir, or pass --force to "
               "replace them.\n",
               who, run_dir.c_str(), prev_job.empty() ? "unknown" : prev_job.c_str(),
               static_cast<long long>(prev_step), registered.c_str());
  return kExitInvalid;
}

std::string SummaryLine(const train::TrainSummary& s) {
  std::string line = fmt::format("done: {} steps in {:.1f} s, {:.0f} tokens/s, final loss {:.4f}",
                                 s.steps, s.wall_s, s.tokens_per_s, s.final_loss);
  if (s.eval_loss) line += fmt::format(", eval loss {:.4f}", *s.eval_loss);
  if (s.eval_accuracy) line += fmt::format(", eval exact-match {:.1f}%", 100 * *s.eval_accuracy);
  if (s.skipped_updates > 0) line += fmt::format(", {} updates skipped", s.skipped_updates);
  return line;
}

int RunLocalJob(const RunArgs& args, const meshtrain::v1::JobSpec& spec, int nproc) {
  local::LocalOptions o;
  o.meshtrain_exe = "/proc/self/exe";
  o.job_path = args.job;
  o.run_dir = args.run_dir;
  o.nproc = nproc;
  o.coordinator = CoordinatorConfigFor(spec, nproc);
  o.coordinator.data_audit_path = args.run_dir + "/data-audit.jsonl";
  o.coordinator.protect = ProtectFor(spec, args.run_dir);
  auto feed = ControlFeedFor(spec, args.run_dir);
  o.coordinator.feed = feed;
  auto server = ServerOptionsFrom(args.security, "127.0.0.1:0");
  if (!server.ok()) return Fail("meshtrain run", server.status(), kExitInvalid);
  o.server = *server;
  o.token_file = args.security.token_file;
  o.resume = args.resume;
  o.allow_job_change = args.allow_job_change;
  auto result = local::RunLocal(o);
  FlushFeed(*feed);  // the run's audit records before the version they lead to
  if (!result.ok()) return Fail("meshtrain run", result.status(), kExitFailure);
  if (!result->succeeded) {
    if (result->interrupted) return SayInterrupted(spec, result->signal, "interrupted");
    std::fprintf(stderr, "meshtrain run: job failed: %s\n", result->error.c_str());
    return kExitFailure;
  }
  std::printf(
      "job succeeded: %d ranks, generation %lld, %d restart(s)\nrun dir: %s "
      "(metrics.jsonl, summary.json, tb/ for TensorBoard)\n",
      nproc, static_cast<long long>(result->generations), result->restarts, args.run_dir.c_str());
  return Register(spec, args.run_dir);
}

int RunRun(RunArgs args) {
  job::LoadOptions options;
  options.world = args.nproc;
  options.overrides = args.overrides;
  job::LoadResult r = job::LoadJobFile(args.job, options);
  if (!r.ok()) {
    std::fputs(job::FormatProblems(r.problems).c_str(), stderr);
    return kExitInvalid;
  }
  std::printf("%s%s", job::Summarize(r.spec, options).c_str(), MemoryLine(r.spec).c_str());
  train::PreflightOptions preflight;  // as `validate` checks it
  preflight.run_dir = args.run_dir;
  if (absl::Status st = train::Preflight(r.spec, preflight); !st.ok()) {
    return Fail("meshtrain run", st, kExitInvalid);
  }
  // Before anything is written: one live run per run dir and checkpoint store.
  std::shared_ptr<storage::RunHolds> holds = args.holds;
  if (!holds) {
    auto held = HoldRunOrSay(r.spec, args.run_dir, "meshtrain run");
    if (!held.ok()) return TrainingExitCode(held.status());
    holds = *held;
  }
  // A finished job changes nothing; a changed one is refused before any rank starts.
  auto begin = train::CheckStart(r.spec, args.resume, args.allow_job_change);
  if (!begin.ok()) return Fail("meshtrain run", begin.status(), TrainingExitCode(begin.status()));
  if (begin->complete) {
    return SayComplete(r.spec, args.run_dir, begin->step, begin->version, begin->store);
  }
  if (!args.results_checked) {
    if (auto stop = StopAtFinishedResults(r.spec, args.run_dir, args.force, "meshtrain run")) {
      return *stop;
    }
  }
  if (!args.overrides.empty()) {  // the workers load the job as overridden
    args.job = args.run_dir + "/job.effective.yaml";
    if (absl::Status s = WriteEffectiveJob(r.spec, args.job); !s.ok()) {
      return Fail("meshtrain run", s, kExitFailure);
    }
  }
  const int nproc = r.spec.mesh().dp() * r.spec.mesh().tp() * r.spec.mesh().pp();
  if (nproc > 1) return RunLocalJob(args, r.spec, nproc);
  // One process: no coordinator (a previous multi-process run's address is stale: `status`
  // reads this run dir's hold instead), so the data audit is kept here too.
  std::remove((args.run_dir + "/coordinator.addr").c_str());
  // One process: no coordinator, so the data audit is kept here (the same file and records).
  const std::string audit_path = args.run_dir + "/data-audit.jsonl";
  std::remove(audit_path.c_str());  // a new run
  auto audit = coord::DataAudit::Open(audit_path);
  if (!audit.ok()) return Fail("meshtrain run", audit.status(), kExitFailure);
  train::TrainOptions train;
  train.spec = r.spec;
  train.run_dir = args.run_dir;
  train.resume = args.resume;
  train.allow_job_change = args.allow_job_change;
  worker::BindRegistryHooks(r.spec, args.run_dir, train);
  const std::string job_id = job::JobId(r.spec);
  auto feed = ControlFeedFor(r.spec, args.run_dir);
  train.on_shard_read = [&](const data::ShardInfo& shard) {
    google::protobuf::RepeatedPtrField<meshtrain::v1::ShardRead> read;
    *read.Add() = worker::DescribeShardRead(r.spec.data().uri(), shard);
    std::vector<nlohmann::json> fresh = (*audit)->Record(0, 1, read);
    if (fresh.empty()) return;
    feed->Audit("data read",
                {{"job", job_id}, {"rank", 0}, {"generation", 1}, {"shards", std::move(fresh)}});
  };
  train.on_metrics = [&](int64_t step, const train::TrainOptions::Scalars& values) {
    std::vector<control::MetricPoint> points;
    for (const auto& [name, value] : values) points.push_back({step, name, value});
    feed->Metrics(std::move(points));
  };
  train.on_commit = [&](const std::string& store, const ckpt::Manifest& m) {
    feed->Audit("checkpoint committed", coord::CommitRecord(job_id, store, m));
  };
  InstallStopHandler();
  train.stop = &g_stop;
  auto summary = train::Train(train);
  FlushFeed(*feed);  // the run's audit records before the version they lead to
  if (!summary.ok() && summary.status().code() == absl::StatusCode::kCancelled && g_stop != 0) {
    return SayInterrupted(r.spec, g_stop.load(), std::string(summary.status().message()));
  }
  if (!summary.ok()) {
    return Fail("meshtrain run", summary.status(), TrainingExitCode(summary.status()));
  }
  if (summary->already_complete) {  // finished between the check above and the restore
    return SayComplete(r.spec, args.run_dir, summary->steps, summary->resumed_from,
                       r.spec.checkpoint().store());
  }
  std::printf("%s\nrun dir: %s (metrics.jsonl, summary.json, tb/ for TensorBoard)\n",
              SummaryLine(*summary).c_str(), args.run_dir.c_str());
  return Register(r.spec, args.run_dir);
}

// `meshtrain finetune`: the job file with finetune.base (and data.uri, train.steps, control.db
// when given) set, written to RUN_DIR/finetune-job.yaml (JSON is YAML) and run like `run`.
struct FinetuneArgs {
  RunArgs run;
  std::string base, data, db;
  int64_t steps = 0;
};

int RunFinetune(const FinetuneArgs& f) {
  job::LoadOptions options;
  options.world = f.run.nproc;
  options.overrides = f.run.overrides;
  job::LoadResult r = job::LoadJobFile(f.run.job, options);
  if (!r.ok()) {
    std::fputs(job::FormatProblems(r.problems).c_str(), stderr);
    return kExitInvalid;
  }
  meshtrain::v1::JobSpec spec = r.spec;
  spec.mutable_finetune()->set_base(f.base);
  if (!f.data.empty()) spec.mutable_data()->set_uri(f.data);
  if (f.steps > 0) spec.mutable_train()->set_steps(static_cast<int32_t>(f.steps));
  if (!f.db.empty()) spec.mutable_control()->set_db(f.db);
  auto held = HoldRunOrSay(spec, f.run.run_dir, "meshtrain finetune");
  if (!held.ok()) return TrainingExitCode(held.status());
  // Before finetune-job.yaml is written: a refused rerun changes nothing.
  if (auto stop = StopAtFinishedResults(spec, f.run.run_dir, f.run.force, "meshtrain finetune")) {
    return *stop;
  }
  RunArgs run = f.run;
  run.holds = *held;
  run.results_checked = true;
  run.job = f.run.run_dir + "/finetune-job.yaml";
  run.overrides.clear();  // applied above, in the file
  if (absl::Status s = WriteEffectiveJob(spec, run.job); !s.ok()) {
    return Fail("meshtrain finetune", s, kExitFailure);
  }
  return RunRun(run);
}

}  // namespace

Command AddFinetuneCommand(CLI::App& root) {
  auto args = std::make_shared<FinetuneArgs>();
  CLI::App* app = root.add_subcommand(
      "finetune", "Train a job starting from a registered model version (full fine-tuning)");
  app->footer(
      "Short form of a job with a finetune block: the model starts from the base version's "
      "weights (its checkpoint, any mesh, or its model.safetensors), with a fresh optimizer; the "
      "result is registered as the next version of the base's model, with the base as its "
      "parent, and goes through the job's promotion gate. The effective job is written to "
      "RUN_DIR/finetune-job.yaml.");
  app->add_option("job", args->run.job, "Job file (YAML): model, data, train blocks")->required();
  app->add_option("--base", args->base, "MODEL@production, MODEL@staging or MODEL@VERSION")
      ->required();
  app->add_option("--data", args->data, "Dataset URI (default: the job's data.uri)");
  app->add_option("--steps", args->steps, "Training steps (default: the job's train.steps)");
  app->add_option("--db", args->db,
                  "The registry holding the base (default: the job's control.db, else "
                  "RUN_DIR/control.db); the new version is registered there too");
  app->add_option("--run-dir", args->run.run_dir, "Directory for metrics and results")->required();
  AddSetFlag(app, args->run.overrides);
  app->add_flag("--force", args->run.force,
                "A job without a checkpoint block, into a run dir holding another finished "
                "run's results: train from step 0 and replace them");
  return Command{app, [args] { return RunFinetune(*args); }};
}

Command AddRunCommand(CLI::App& root) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* app = root.add_subcommand("run", "Train a job file (embedded services, local)");
  app->footer(
      "Validates the job, trains it, evaluates every eval.every steps and at the end, and "
      "writes RUN_DIR/metrics.jsonl (one JSON record per logged step or evaluation) and "
      "RUN_DIR/summary.json. With more than one rank it hosts the coordinator (address in "
      "RUN_DIR/coordinator.addr, see `meshtrain status --run-dir`) and supervises N `meshtrain "
      "worker` processes, restarting them after a failure up to fault_tolerance.max_restarts. "
      "Exit 2 for an invalid job or dataset, 1 when training fails, 130 when interrupted.");
  app->add_option("job", args->job, "Job file (YAML)")->required();
  app->add_option("--run-dir", args->run_dir, "Directory for metrics and results")->required();
  app->add_option("--nproc", args->nproc,
                  "Worker processes (world size); must equal the mesh size; default: the mesh "
                  "size")
      ->check(AtLeast(1));
  app->add_option("--resume", args->resume,
                  "latest, never or a checkpoint version to resume from (default: the job's "
                  "checkpoint.resume)");
  app->add_flag("--force", args->force,
                "A job without a checkpoint block, into a run dir holding another finished "
                "run's results: train from step 0 and replace them");
  AddSetFlag(app, args->overrides);
  app->add_flag("--allow-job-change", args->allow_job_change,
                "Resume although the job changes the checkpoint's trajectory (model, data, "
                "optimizer, schedule); the changes are logged");
  app->add_option("--token-file", args->security.token_file,
                  "Require this bearer token on the coordinator (workers get it too)");
  app->add_option("--metrics-listen", args->security.metrics_listen,
                  "IPV4:PORT where the coordinator serves Prometheus metrics (/metrics; more "
                  "than one rank)");
  return Command{app, [args] { return RunRun(*args); }};
}

}  // namespace mt::cli
