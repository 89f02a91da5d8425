// `meshtrain registry list|show|promote|rollback` and `meshtrain audit verify|list`: the model
// registry and its audit log, read and changed straight in the SQLite file (--db FILE; the
// control service embedded in `meshtrain run` keeps it at RUN_DIR/control.db).
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "control/registry/registry.h"
#include "fmt/format.h"
#include "launcher/cli/commands.h"
#include "launcher/cli/job_setup.h"

namespace mt::cli {
namespace {

struct RegistryArgs {
  std::string db;
  std::string ref;  // MODEL or MODEL@VERSION
  std::string reason;
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

int List(control::Registry& r) {
  auto models = r.Models();
  if (!models.ok()) return Failed("meshtrain registry list", models.status());
  std::printf("%-24s %8s %-12s %-40s %s\n", "model", "version", "alias", "checkpoint", "metrics");
  for (const std::string& m : *models) {
    auto versions = r.Versions(m);
    auto prod = r.Alias(m, "production");
    auto staging = r.Alias(m, "staging");
    if (!versions.ok() || !prod.ok() || !staging.ok()) {
      return Failed("meshtrain registry list", versions.status());
    }
    for (const control::VersionInfo& v : *versions) {
      std::string alias = *prod && **prod == v.version         ? "production"
                          : *staging && **staging == v.version ? "staging"
                                                               : "";
      std::printf("%-24s %8lld %-12s %-40s %s\n", m.c_str(), static_cast<long long>(v.version),
                  alias.c_str(),
                  fmt::format("{}#{}", v.checkpoint_uri, v.checkpoint_version).c_str(),
                  MetricsText(v.metrics).c_str());
    }
  }
  if (models->empty()) std::printf("(no models in %s)\n", r.path().c_str());
  return kExitOk;
}

int Show(control::Registry& r, const std::string& ref) {
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

int Promote(control::Registry& r, const RegistryArgs& a) {
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

int Rollback(control::Registry& r, const RegistryArgs& a) {
  auto d = r.Rollback(a.ref, a.reason);
  if (!d.ok()) return Failed("meshtrain registry rollback", d.status());
  std::printf("%s: production is v%lld (%s)\n", d->model.c_str(),
              static_cast<long long>(d->version), d->reason.c_str());
  return kExitOk;
}

int Verify(control::Registry& r) {
  auto records = r.Audit();
  if (!records.ok()) return Failed("meshtrain audit verify", records.status());
  if (absl::Status s = r.VerifyAudit(); !s.ok()) {
    std::printf("audit chain BROKEN: %s\n", std::string(s.message()).c_str());
    return kExitFailure;
  }
  std::printf("audit chain ok: %zu records, head %s\n", records->size(),
              records->empty() ? "-" : records->back().hash.c_str());
  return kExitOk;
}

int ListAudit(control::Registry& r) {
  auto records = r.Audit();
  if (!records.ok()) return Failed("meshtrain audit list", records.status());
  for (const control::AuditRecord& a : *records) {
    std::printf("%6lld %s %-20s %s\n", static_cast<long long>(a.id), a.created.c_str(),
                a.kind.c_str(), a.body.c_str());
  }
  return kExitOk;
}

// Opens the registry named by --db and runs `fn` on it.
int WithRegistry(const RegistryArgs& a, const char* who,
                 const std::function<int(control::Registry&)>& fn) {
  auto r = control::Registry::Open(a.db);
  if (!r.ok()) return Fail(who, r.status(), kExitFailure);
  return fn(**r);
}

}  // namespace

Command AddRegistryCommand(CLI::App& root) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* app =
      root.add_subcommand("registry", "List, show, promote and roll back model versions");
  app->require_subcommand(1);
  app->footer(
      "The registry is a SQLite file: --db FILE (`meshtrain run` keeps one at "
      "RUN_DIR/control.db). Every change appends to the audit log (`meshtrain audit verify`).");
  auto db = [&](CLI::App* sub) {
    sub->add_option("--db", args->db, "The registry database (SQLite file)")->required();
  };
  CLI::App* list = app->add_subcommand("list", "Every model's versions, aliases and metrics");
  db(list);
  CLI::App* show = app->add_subcommand("show", "One version and the model's decisions");
  show->add_option("ref", args->ref, "MODEL, MODEL@VERSION, MODEL@production|staging")->required();
  db(show);
  CLI::App* promote = app->add_subcommand("promote", "Make MODEL@VERSION production");
  promote->add_option("ref", args->ref, "MODEL@VERSION")->required();
  promote->add_option("--reason", args->reason, "Why (stored with the decision)");
  db(promote);
  CLI::App* rollback =
      app->add_subcommand("rollback", "Production back to the version before the last promotion");
  rollback->add_option("model", args->ref, "MODEL")->required();
  rollback->add_option("--reason", args->reason, "Why (stored with the decision)");
  db(rollback);
  return Command{app, [=] {
                   if (*list) return WithRegistry(*args, "meshtrain registry list", List);
                   if (*show) {
                     return WithRegistry(*args, "meshtrain registry show",
                                         [&](control::Registry& r) { return Show(r, args->ref); });
                   }
                   if (*promote) {
                     return WithRegistry(*args, "meshtrain registry promote",
                                         [&](control::Registry& r) { return Promote(r, *args); });
                   }
                   return WithRegistry(*args, "meshtrain registry rollback",
                                       [&](control::Registry& r) { return Rollback(r, *args); });
                 }};
}

Command AddAuditCommand(CLI::App& root) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* app = root.add_subcommand("audit", "Check or print the registry's audit log");
  app->require_subcommand(1);
  CLI::App* verify =
      app->add_subcommand("verify", "Replay the hash chain; exit 1 naming the first bad record");
  verify->add_option("--db", args->db, "The registry database (SQLite file)")->required();
  CLI::App* list = app->add_subcommand("list", "Every audit record");
  list->add_option("--db", args->db, "The registry database (SQLite file)")->required();
  return Command{app, [=] {
                   if (*verify) return WithRegistry(*args, "meshtrain audit verify", Verify);
                   return WithRegistry(*args, "meshtrain audit list", ListAudit);
                 }};
}

}  // namespace mt::cli
