// `meshtrain k8s render|submit|status|logs|cancel`: a job on Kubernetes (launcher/k8s).
// render prints the manifests (YAML, or a JSON List with -o json); submit applies them with
// kubectl; status, logs and cancel find the job's objects by its label.
#include <cstdio>
#include <memory>
#include <string>
#include <variant>

#include "launcher/cli/commands.h"
#include "launcher/cli/flags.h"
#include "launcher/cli/job_setup.h"
#include "launcher/k8s/kubectl.h"
#include "launcher/k8s/render.h"
#include "nlohmann/json.hpp"
#include "runtime/core/params.h"

namespace mt::cli {
namespace {

struct K8sArgs {
  std::string job;  // a job file (render, submit) or a job name (status, logs, cancel)
  k8s::RenderOptions render;
  std::string output = "yaml";
  std::string context;
  int index = 0;
  bool follow = false, purge = false;
};

k8s::KubectlOptions Kubectl(const K8sArgs& a) {
  k8s::KubectlOptions o;
  if (!params::Kubectl().empty()) o.kubectl = params::Kubectl();
  o.namespace_name = a.render.namespace_name;
  o.context = a.context;
  return o;
}

// The rendered stream, or the exit code of why there is none.
std::variant<std::string, int> Rendered(const K8sArgs& a, const char* who) {
  auto spec = LoadJobForWorld(a.job, 0);
  if (!spec) return kExitInvalid;
  auto objects = k8s::Render(*spec, a.render);
  if (!objects.ok()) return Fail(who, objects.status(), kExitInvalid);
  if (a.output == "json") {
    return nlohmann::json({{"apiVersion", "v1"}, {"kind", "List"}, {"items", *objects}}).dump(2) +
           "\n";
  }
  return k8s::ToYaml(*objects);
}

int Run(const char* who, const std::vector<std::string>& argv, const std::string& input = "") {
  auto rc = k8s::RunKubectl(argv, input);
  if (!rc.ok()) return Fail(who, rc.status(), kExitFailure);
  return *rc == 0 ? kExitOk : kExitFailure;
}

int RunRender(const K8sArgs& a) {
  auto text = Rendered(a, "meshtrain k8s render");
  if (auto* rc = std::get_if<int>(&text)) return *rc;
  std::fputs(std::get<std::string>(text).c_str(), stdout);
  return kExitOk;
}

int RunSubmit(const K8sArgs& a) {
  auto text = Rendered(a, "meshtrain k8s submit");
  if (auto* rc = std::get_if<int>(&text)) return *rc;
  return Run("meshtrain k8s submit", k8s::ApplyArgs(Kubectl(a)), std::get<std::string>(text));
}

}  // namespace

Command AddK8sCommand(CLI::App& root) {
  auto args = std::make_shared<K8sArgs>();
  CLI::App* app = root.add_subcommand("k8s", "Run a job on Kubernetes (manifests, kubectl)");
  app->require_subcommand(1);
  app->footer(
      "render prints the job's objects: a ConfigMap with the job file, the coordinator and "
      "control service (Deployment + Service; a PVC for the registry), the workers as an "
      "Indexed Job with a headless Service, a ServiceAccount and NetworkPolicies "
      "(docs/kubernetes.md). submit applies them with kubectl (MT_KUBECTL overrides it).");
  auto render_flags = [&](CLI::App* sub) {
    sub->add_option("job", args->job, "Job file (YAML)")->required();
    sub->add_option("--namespace", args->render.namespace_name,
                    "Namespace (default: resources.namespace, else the context's)");
    sub->add_option("--image", args->render.image,
                    "Container image (default: resources.image, else the release image)");
    sub->add_option("--cpu-image", args->render.cpu_image,
                    "Image of the coordinator and control service (default: --image)");
  };
  CLI::App* render = app->add_subcommand("render", "Print the job's Kubernetes manifests");
  render_flags(render);
  render->add_option("-o,--output", args->output, "yaml or json (a v1 List)")
      ->check(CLI::IsMember({"yaml", "json"}));
  CLI::App* submit = app->add_subcommand("submit", "Render and kubectl apply");
  render_flags(submit);
  auto name_flags = [&](CLI::App* sub) {
    sub->add_option("name", args->job, "The job's name (its `name:`)")->required();
    sub->add_option("--namespace", args->render.namespace_name, "Namespace");
  };
  CLI::App* status = app->add_subcommand("status", "The job's Job, Deployments and pods");
  name_flags(status);
  CLI::App* logs = app->add_subcommand("logs", "Logs of one worker index");
  name_flags(logs);
  logs->add_option("--index", args->index, "Worker index (JOB_COMPLETION_INDEX)")
      ->check(AtLeast(0));
  logs->add_flag("-f,--follow", args->follow, "Stream");
  CLI::App* cancel = app->add_subcommand("cancel", "Delete the job's objects");
  name_flags(cancel);
  cancel->add_flag("--purge", args->purge, "Also delete the control service's registry claim");
  for (CLI::App* sub : {submit, status, logs, cancel}) {
    sub->add_option("--context", args->context, "kubectl context (default: the current one)");
  }
  return Command{app, [=]() -> int {
                   if (*render) return RunRender(*args);
                   if (*submit) return RunSubmit(*args);
                   const auto o = Kubectl(*args);
                   if (*status) return Run("meshtrain k8s status", k8s::StatusArgs(o, args->job));
                   if (*logs) {
                     return Run("meshtrain k8s logs",
                                k8s::LogsArgs(o, args->job, args->index, args->follow));
                   }
                   return Run("meshtrain k8s cancel", k8s::DeleteArgs(o, args->job, args->purge));
                 }};
}

}  // namespace mt::cli
