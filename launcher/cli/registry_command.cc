// `meshtrain registry list|show|promote|rollback|add-data|report|retrains` and `meshtrain audit
// verify|list`: the model registry, the retrain trigger and the audit log, through a running
// control service (--control HOST:PORT) or straight in the SQLite file (--db FILE; `meshtrain
// run`'s embedded service keeps it at RUN_DIR/control.db). One code path: ControlApi.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "control/service/client.h"
#include "control/service/local_control.h"
#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/job_setup.h"
#include "runtime/rpc/security.h"

namespace mt::cli {
namespace {

struct RegistryArgs {
  std::string db;       // --db FILE
  std::string control;  // --control HOST:PORT
  std::string token_file, tls_ca, tls_cert, tls_key;
  std::string ref;  // MODEL or MODEL@VERSION
  std::string reason;
  std::string metric, data, source = "cli";
  double value = 0;
  bool wait = false;
};

std::string MetricsText(const control::Metrics& m) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : m) parts.push_back(fmt::format("{}={:.6g}", k, v));
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

// Exit 2 for what the user asked wrongly (unknown model/version, bad reference, nothing to
// roll back to), 1 for everything else.
int Failed(const char* who, const absl::Status& s) {
  const auto code = s.code();
  const bool invalid = code == absl::StatusCode::kNotFound ||
                       code == absl::StatusCode::kInvalidArgument ||
                       code == absl::StatusCode::kFailedPrecondition;
  return Fail(who, s, invalid ? kExitInvalid : kExitFailure);
}

int List(control::ControlApi& r) {
  auto models = r.Models();
  if (!models.ok()) return Failed("meshtrain registry list", models.status());
  std::printf("%-24s %8s %-12s %-40s %s\n", "model", "version", "alias", "checkpoint", "metrics");
  for (const std::string& m : *models) {
    auto versions = r.Versions(m);
    if (!versions.ok()) return Failed("meshtrain registry list", versions.status());
    for (const control::VersionInfo& v : *versions) {
      const std::string alias = absl::StrJoin(v.aliases, ",");
      std::printf("%-24s %8lld %-12s %-40s %s\n", m.c_str(), static_cast<long long>(v.version),
                  alias.c_str(),
                  fmt::format("{}#{}", v.checkpoint_uri, v.checkpoint_version).c_str(),
                  MetricsText(v.metrics).c_str());
    }
  }
  if (models->empty()) std::printf("(no models in %s)\n", r.where().c_str());
  return kExitOk;
}

int Show(control::ControlApi& r, const std::string& ref) {
  auto v = r.Resolve(ref);
  if (!v.ok()) return Failed("meshtrain registry show", v.status());
  std::printf(
      "%s v%lld (created %s)\n  checkpoint %s version %lld\n  metrics %s\n  parent %s\n"
      "  data %s\n  job %s\n",
      v->model.c_str(), static_cast<long long>(v->version), v->created.c_str(),
      v->checkpoint_uri.c_str(), static_cast<long long>(v->checkpoint_version),
      MetricsText(v->metrics).c_str(), v->parent ? fmt::format("v{}", *v->parent).c_str() : "-",
      v->data_fingerprint.c_str(), v->job_hash.c_str());
  auto decisions = r.Decisions(v->model);
  if (!decisions.ok()) return Failed("meshtrain registry show", decisions.status());
  std::printf("decisions:\n");
  for (const control::Decision& d : *decisions) {
    std::printf("  %s v%lld %s: %s\n", d.created.c_str(), static_cast<long long>(d.version),
                d.outcome.c_str(), d.reason.c_str());
  }
  return kExitOk;
}

int Promote(control::ControlApi& r, const RegistryArgs& a) {
  const size_t at = a.ref.find('@');
  int64_t version = 0;
  if (at == std::string::npos || !absl::SimpleAtoi(a.ref.substr(at + 1), &version)) {
    return Failed("meshtrain registry promote",
                  absl::InvalidArgumentError(fmt::format("'{}': expected MODEL@VERSION", a.ref)));
  }
  auto d = r.Promote(a.ref.substr(0, at), version, a.reason);
  if (!d.ok()) return Failed("meshtrain registry promote", d.status());
  std::printf("%s v%lld: %s (%s)\n", d->model.c_str(), static_cast<long long>(d->version),
              d->outcome.c_str(), d->reason.c_str());
  return kExitOk;
}

int Rollback(control::ControlApi& r, const RegistryArgs& a) {
  auto d = r.Rollback(a.ref, a.reason);
  if (!d.ok()) return Failed("meshtrain registry rollback", d.status());
  std::printf("%s: production is v%lld (%s)\n", d->model.c_str(),
              static_cast<long long>(d->version), d->reason.c_str());
  return kExitOk;
}

int Verify(control::ControlApi& r) {
  auto head = r.VerifyAudit();
  if (!head.ok()) {
    if (head.status().code() != absl::StatusCode::kDataLoss) {
      return Failed("meshtrain audit verify", head.status());
    }
    std::printf("audit chain BROKEN: %s\n", std::string(head.status().message()).c_str());
    return kExitFailure;
  }
  std::printf("audit chain ok: %lld records, head %s\n", static_cast<long long>(head->records),
              head->hash.empty() ? "-" : head->hash.c_str());
  return kExitOk;
}

int ListAudit(control::ControlApi& r) {
  auto records = r.Audit();
  if (!records.ok()) return Failed("meshtrain audit list", records.status());
  for (const control::AuditRecord& a : *records) {
    std::printf("%6lld %s %-20s %s\n", static_cast<long long>(a.id), a.created.c_str(),
                a.kind.c_str(), a.body.c_str());
  }
  return kExitOk;
}

std::string RetrainLine(const control::RetrainInfo& r) {
  return fmt::format(
      "retrain {} of {} v{} on {}: {}{}{} (run dir {})", r.id, r.model, r.base_version, r.data_uri,
      r.state, r.state == "running" ? "" : fmt::format(", exit {}", r.exit_code),
      r.result_version ? fmt::format(", registered v{}", *r.result_version) : "", r.run_dir);
}

void PrintTrigger(const control::TriggerResult& t) {
  std::printf("trigger: %s\n", t.reason.c_str());
  if (t.retrain) std::printf("%s\n", RetrainLine(*t.retrain).c_str());
}

// With --wait: polls the retrain until it ends (through --control), or waits for the child
// (--db: the retrain runs from this process).
int AwaitRetrain(control::ControlApi& r, const control::TriggerResult& t, const char* who) {
  if (!t.retrain) return kExitOk;
  if (auto* local = dynamic_cast<control::LocalControl*>(&r)) local->WaitRetrains();
  while (true) {
    auto retrains = r.Retrains(t.retrain->model);
    if (!retrains.ok()) return Failed(who, retrains.status());
    for (const control::RetrainInfo& x : *retrains) {
      if (x.id != t.retrain->id || x.state == "running") continue;
      std::printf("%s\n", RetrainLine(x).c_str());
      return x.state == "succeeded" ? kExitOk : kExitFailure;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// With --db a retrain runs from this command (no service holds it): it always waits, or the
// job would be stopped as the command exits.
bool MustWait(control::ControlApi& r, const RegistryArgs& a) {
  return a.wait || dynamic_cast<control::LocalControl*>(&r) != nullptr;
}

int AddData(control::ControlApi& r, const RegistryArgs& a) {
  const char* who = "meshtrain registry add-data";
  auto d = r.RegisterDataset(a.ref, a.data);
  if (!d.ok()) return Failed(who, d.status());
  std::printf("dataset %lld of %s: %s (%s)\n", static_cast<long long>(d->first.id), a.ref.c_str(),
              a.data.c_str(), d->first.fingerprint.c_str());
  PrintTrigger(d->second);
  return MustWait(r, a) ? AwaitRetrain(r, d->second, who) : kExitOk;
}

int Report(control::ControlApi& r, const RegistryArgs& a) {
  const char* who = "meshtrain registry report";
  auto t = r.ReportProductionMetric({a.ref, a.metric, a.value, a.data, a.source});
  if (!t.ok()) return Failed(who, t.status());
  PrintTrigger(*t);
  return MustWait(r, a) ? AwaitRetrain(r, *t, who) : kExitOk;
}

int Retrains(control::ControlApi& r, const std::string& model) {
  auto retrains = r.Retrains(model);
  if (!retrains.ok()) return Failed("meshtrain registry retrains", retrains.status());
  for (const control::RetrainInfo& x : *retrains) {
    std::printf("%s\n  reason: %s\n", RetrainLine(x).c_str(), x.reason.c_str());
  }
  if (retrains->empty()) std::printf("(no retrains of %s)\n", model.c_str());
  return kExitOk;
}

// Opens the control service named by --control, else the registry file named by --db, and
// runs `fn` on it.
int WithRegistry(const RegistryArgs& a, const char* who,
                 const std::function<int(control::ControlApi&)>& fn) {
  if (a.control.empty() == a.db.empty()) {
    return Fail(who, absl::InvalidArgumentError("pass --control HOST:PORT or --db FILE (one)"),
                kExitInvalid);
  }
  if (!a.db.empty()) {
    control::LocalControlOptions o;
    o.db = a.db;
    o.create = false;  // a registry is made by the runs that register into it, never by a typo
    auto local = control::LocalControl::Open(o);
    if (!local.ok()) return Failed(who, local.status());
    return fn(**local);
  }
  control::ControlClientOptions o;
  o.address = a.control;
  o.tls = {a.tls_cert, a.tls_key, a.tls_ca};
  if (!a.token_file.empty()) {
    auto token = rpc::ReadTokenFile(a.token_file);
    if (!token.ok()) return Fail(who, token.status(), kExitInvalid);
    o.token = *token;
  }
  auto client = control::ControlClient::Connect(o);
  if (!client.ok()) return Fail(who, client.status(), kExitInvalid);
  return fn(**client);
}

// --control / --db and their credentials, on every registry and audit subcommand.
void WhereFlags(CLI::App* sub, RegistryArgs& a) {
  sub->add_option("--db", a.db, "The registry database (SQLite file)");
  sub->add_option("--control", a.control, "A running control service (HOST:PORT)");
  sub->add_option("--token-file", a.token_file, "Bearer token file (--control)");
  sub->add_option("--tls-ca", a.tls_ca, "CA that signed the service's certificate (--control)");
  sub->add_option("--tls-cert", a.tls_cert, "Client certificate (PEM) for an mTLS service");
  sub->add_option("--tls-key", a.tls_key, "Private key (PEM) of --tls-cert");
}

}  // namespace

Command AddRegistryCommand(CLI::App& root) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* app =
      root.add_subcommand("registry", "Model versions, promotion, datasets and retraining");
  app->require_subcommand(1);
  app->footer(
      "Works on a running control service (--control HOST:PORT, see `meshtrain control`) or "
      "on the registry's SQLite file (--db FILE; `meshtrain run` keeps one at "
      "RUN_DIR/control.db). Every change appends to the audit log (`meshtrain audit verify`).");
  CLI::App* list = app->add_subcommand("list", "Every model's versions, aliases and metrics");
  CLI::App* show = app->add_subcommand("show", "One version and the model's decisions");
  show->add_option("ref", args->ref, "MODEL, MODEL@VERSION, MODEL@production|staging")->required();
  CLI::App* promote = app->add_subcommand("promote", "Make MODEL@VERSION production");
  promote->add_option("ref", args->ref, "MODEL@VERSION")->required();
  promote->add_option("--reason", args->reason, "Why (stored with the decision)");
  CLI::App* rollback =
      app->add_subcommand("rollback", "Production back to the version before the last promotion");
  rollback->add_option("model", args->ref, "MODEL")->required();
  rollback->add_option("--reason", args->reason, "Why (stored with the decision)");
  CLI::App* add_data = app->add_subcommand(
      "add-data", "Register a new dataset for a model (retrains if its policy says on_new_data)");
  add_data->add_option("model", args->ref, "MODEL")->required();
  add_data->add_option("uri", args->data, "Dataset URI (file://, az://)")->required();
  CLI::App* report = app->add_subcommand(
      "report", "Report a production metric; below the retrain threshold it fine-tunes production");
  report->add_option("model", args->ref, "MODEL")->required();
  report->add_option("metric", args->metric, "Metric name (the job's control.retrain.metric)")
      ->required();
  report->add_option("value", args->value, "Its value")->required();
  report->add_option("--data", args->data, "Retrain on this dataset (default: newest registered)");
  report->add_option("--source", args->source, "Who reports (kept in the audit log)");
  CLI::App* retrains = app->add_subcommand("retrains", "A model's retrain jobs");
  retrains->add_option("model", args->ref, "MODEL")->required();
  for (CLI::App* sub : {add_data, report}) {
    sub->add_flag("--wait", args->wait,
                  "Wait for a submitted retrain to end (exit 1 if it failed); always with --db");
  }
  for (CLI::App* sub : {list, show, promote, rollback, add_data, report, retrains}) {
    WhereFlags(sub, *args);
  }
  return Command{app, [=]() -> int {
                   using Fn = std::function<int(control::ControlApi&)>;
                   const std::pair<CLI::App*, Fn> subs[] = {
                       {list, List},
                       {show, [&](control::ControlApi& r) { return Show(r, args->ref); }},
                       {promote, [&](control::ControlApi& r) { return Promote(r, *args); }},
                       {rollback, [&](control::ControlApi& r) { return Rollback(r, *args); }},
                       {add_data, [&](control::ControlApi& r) { return AddData(r, *args); }},
                       {report, [&](control::ControlApi& r) { return Report(r, *args); }},
                       {retrains, [&](control::ControlApi& r) { return Retrains(r, args->ref); }},
                   };
                   for (const auto& [sub, fn] : subs) {
                     if (*sub) {
                       return WithRegistry(*args, ("meshtrain registry " + sub->get_name()).c_str(),
                                           fn);
                     }
                   }
                   return kExitInvalid;
                 }};
}

Command AddAuditCommand(CLI::App& root) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* app = root.add_subcommand("audit", "Check or print the registry's audit log");
  app->require_subcommand(1);
  CLI::App* verify =
      app->add_subcommand("verify", "Replay the hash chain; exit 1 naming the first bad record");
  CLI::App* list = app->add_subcommand("list", "Every audit record");
  WhereFlags(verify, *args);
  WhereFlags(list, *args);
  return Command{app, [=] {
                   if (*verify) return WithRegistry(*args, "meshtrain audit verify", Verify);
                   return WithRegistry(*args, "meshtrain audit list", ListAudit);
                 }};
}

}  // namespace mt::cli
