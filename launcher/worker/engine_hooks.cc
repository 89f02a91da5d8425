// The registry hooks of the training engine (see engine_hooks.h).
#include "launcher/worker/engine_hooks.h"

#include <filesystem>

#include "control/registry/registry.h"
#include "control/service/open.h"
#include "fmt/format.h"
#include "runtime/core/status.h"

namespace mt::worker {
namespace {

// finetune.base through the job's control service; NotFound when an embedded registry does
// not exist yet (a base must have been registered before). Errors name the field.
absl::StatusOr<train::BaseWeights> ResolveBase(meshtrain::v1::ControlSpec control,
                                               const std::string& run_dir,
                                               const std::string& base) {
  if (control.endpoint() == "embedded") {
    const std::string db = control::RegistryPath(control, run_dir);
    std::error_code ec;
    if (!std::filesystem::exists(db, ec)) {
      return absl::NotFoundError(
          fmt::format("finetune.base {}: no registry at {} (control.db)", base, db));
    }
    control.set_db(db);
  }
  MT_ASSIGN_OR_RETURN(auto api, control::OpenControl(control, run_dir));
  auto v = api->Resolve(base);
  if (!v.ok()) return Annotate(v.status(), "finetune.base");
  return train::BaseWeights{v->checkpoint_uri, v->checkpoint_version,
                            fmt::format("{} v{}", v->model, v->version)};
}

}  // namespace

void BindRegistryHooks(const meshtrain::v1::JobSpec& spec, const std::string& run_dir,
                       train::TrainOptions& o) {
  o.protect = [control = spec.control(), run_dir](const std::string& store_uri) {
    return control::ProtectedCheckpoints(control, run_dir, store_uri);
  };
  o.resolve_base = [control = spec.control(), run_dir](const std::string& base) {
    return ResolveBase(control, run_dir, base);
  };
}

}  // namespace mt::worker
