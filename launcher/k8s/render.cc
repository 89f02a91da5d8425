// Rendering a job as Kubernetes objects (see render.h).
#include "launcher/k8s/render.h"

#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/core/status.h"

namespace mt::k8s {
namespace {

using json = nlohmann::json;
using meshtrain::v1::JobSpec;

constexpr char kJobFile[] = "/etc/meshtrain/job.yaml";
constexpr char kSecretDir[] = "/etc/meshtrain-secrets";
constexpr char kControlDir[] = "/var/lib/meshtrain-control";
constexpr char kTlsDir[] = "/etc/meshtrain-tls";
constexpr int kUser = 65532;

// What every object of the job carries; `component` selects one role's pods.
json Labels(const std::string& job, const std::string& component = "") {
  json l = {{"app.kubernetes.io/name", "meshtrain"},
            {"app.kubernetes.io/instance", job},
            {"meshtrain.dev/job", job}};
  if (!component.empty()) l["app.kubernetes.io/component"] = component;
  return l;
}

json Selector(const std::string& job, const std::string& component) {
  return {{"app.kubernetes.io/instance", job}, {"app.kubernetes.io/component", component}};
}

json Meta(const std::string& name, const std::string& job, const std::string& ns,
          const std::string& component = "") {
  json m = {{"name", name}, {"labels", Labels(job, component)}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

json ContainerSecurity() {
  return {{"allowPrivilegeEscalation", false},
          {"readOnlyRootFilesystem", true},
          {"runAsNonRoot", true},
          {"capabilities", {{"drop", json::array({"ALL"})}}},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

json PodSecurity() {
  return {{"runAsNonRoot", true},
          {"runAsUser", kUser},
          {"runAsGroup", kUser},
          {"fsGroup", kUser},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

json Env(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

// The pieces of a pod every role shares: the job file, scratch space, /tmp, the token.
struct PodParts {
  json volumes = json::array();
  json mounts = json::array();
  json env = json::array();
  json env_from = json::array();
};

PodParts CommonParts(const std::string& job, const JobSpec& spec) {
  PodParts p;
  p.volumes.push_back({{"name", "job"}, {"configMap", {{"name", job + "-job"}}}});
  p.mounts.push_back({{"name", "job"}, {"mountPath", "/etc/meshtrain"}, {"readOnly", true}});
  for (const char* dir : {"scratch", "tmp"}) {
    p.volumes.push_back({{"name", dir}, {"emptyDir", json::object()}});
    p.mounts.push_back({{"name", dir}, {"mountPath", std::string("/") + dir}});
  }
  p.env.push_back(Env("HOME", "/scratch"));
  p.env.push_back(Env("TMPDIR", "/tmp"));
  const auto& r = spec.resources();
  if (!r.token_secret().empty()) {
    p.volumes.push_back({{"name", "token"},
                         {"secret",
                          {{"secretName", r.token_secret()},
                           {"defaultMode", 0400},
                           {"items", json::array({{{"key", "token"}, {"path", "token"}}})}}}});
    p.mounts.push_back({{"name", "token"}, {"mountPath", kSecretDir}, {"readOnly", true}});
  }
  if (!r.blob_secret().empty()) {
    p.env_from.push_back({{"secretRef", {{"name", r.blob_secret()}}}});
  }
  if (!r.tls_secret().empty()) {  // clients' side (workers, the coordinator's feed, retrains)
    p.volumes.push_back(
        {{"name", "tls"}, {"secret", {{"secretName", r.tls_secret()}, {"defaultMode", 0400}}}});
    p.mounts.push_back({{"name", "tls"}, {"mountPath", kTlsDir}, {"readOnly", true}});
    p.env.push_back(Env("MT_TLS_CA", std::string(kTlsDir) + "/ca.crt"));
    p.env.push_back(Env("MT_TLS_CERT", std::string(kTlsDir) + "/tls.crt"));
    p.env.push_back(Env("MT_TLS_KEY", std::string(kTlsDir) + "/tls.key"));
  }
  return p;
}

std::string TokenPath() { return std::string(kSecretDir) + "/token"; }

json Container(const std::string& name, const std::string& image, json args, const PodParts& p,
               json resources) {
  json c = {{"name", name},
            {"image", image},
            {"imagePullPolicy", "IfNotPresent"},
            {"command", json::array({"meshtrain"})},
            {"args", std::move(args)},
            {"env", p.env},
            {"volumeMounts", p.mounts},
            {"resources", std::move(resources)},
            {"securityContext", ContainerSecurity()}};
  if (!p.env_from.empty()) c["envFrom"] = p.env_from;
  return c;
}

json PodSpec(const std::string& job, json containers, json volumes) {
  return {{"serviceAccountName", job},
          {"automountServiceAccountToken", false},
          {"securityContext", PodSecurity()},
          {"containers", std::move(containers)},
          {"volumes", std::move(volumes)}};
}

json Port(const std::string& name, int port) {
  return {{"name", name}, {"port", port}, {"targetPort", port}, {"protocol", "TCP"}};
}

json ContainerPort(const std::string& name, int port) {
  return {{"name", name}, {"containerPort", port}, {"protocol", "TCP"}};
}

json Service(const std::string& name, const std::string& job, const std::string& ns,
             const std::string& component, json ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", Meta(name, job, ns, component)},
          {"spec", {{"selector", Selector(job, component)}, {"ports", std::move(ports)}}}};
}

// One replica, replaced by Recreate: never two coordinators behind a Service, and the control
// service's ReadWriteOnce claim is let go of before the new pod starts.
json Deployment(const std::string& name, const std::string& job, const std::string& ns,
                const std::string& component, json pod) {
  json spec = {{"replicas", 1},
               {"strategy", {{"type", "Recreate"}}},
               {"selector", {{"matchLabels", Selector(job, component)}}},
               {"template", {{"metadata", {{"labels", Labels(job, component)}}}, {"spec", pod}}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", Meta(name, job, ns, component)},
          {"spec", std::move(spec)}};
}

// The job file the pods read: the control service is the rendered one when the job embeds
// it, and calls carry the mounted token.
absl::StatusOr<std::string> EffectiveJob(const JobSpec& spec, const std::string& job,
                                         bool own_control) {
  JobSpec effective = spec;
  if (own_control) {
    effective.mutable_control()->set_endpoint(fmt::format("{}-control:{}", job, kControlPort));
    effective.mutable_control()->clear_db();
  }
  if (!spec.resources().token_secret().empty()) {
    effective.mutable_control()->set_token_file(TokenPath());
  }
  std::string text;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(effective, &text, print).ok()) {
    return absl::InternalError("cannot write the job file");
  }
  return "# Rendered by `meshtrain k8s render` (JSON is YAML).\n" + text;
}

// A server's security flags: the token it requires, and mTLS from the TLS Secret.
json TokenArgs(const JobSpec& spec) {
  json args = json::array();
  if (!spec.resources().token_secret().empty()) {
    for (const std::string& a : {std::string("--token-file"), TokenPath()}) args.push_back(a);
  }
  if (!spec.resources().tls_secret().empty()) {
    const std::string d = kTlsDir;
    for (const std::string& a :
         {std::string("--tls-cert"), d + "/tls.crt", std::string("--tls-key"), d + "/tls.key",
          std::string("--tls-client-ca"), d + "/ca.crt"}) {
      args.push_back(a);
    }
  }
  return args;
}

json Coordinator(const std::string& job, const std::string& ns, const JobSpec& spec,
                 const std::string& image, int world) {
  PodParts p = CommonParts(job, spec);
  p.volumes.push_back({{"name", "state"}, {"emptyDir", json::object()}});
  p.mounts.push_back({{"name", "state"}, {"mountPath", "/var/lib/meshtrain"}});
  json args = {"coordinator",
               kJobFile,
               "--listen",
               fmt::format("0.0.0.0:{}", kCoordinatorPort),
               "--world",
               std::to_string(world),
               "--metrics-listen",
               fmt::format("0.0.0.0:{}", kCoordinatorMetricsPort),
               "--state-dir",
               "/var/lib/meshtrain",
               "--stay"};
  for (const auto& a : TokenArgs(spec)) args.push_back(a);
  json c = Container(
      "coordinator", image, std::move(args), p,
      {{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}}, {"limits", {{"memory", "1Gi"}}}});
  c["ports"] = {ContainerPort("grpc", kCoordinatorPort),
                ContainerPort("metrics", kCoordinatorMetricsPort)};
  c["readinessProbe"] = {{"tcpSocket", {{"port", kCoordinatorPort}}}, {"periodSeconds", 5}};
  return Deployment(job + "-coordinator", job, ns, "coordinator",
                    PodSpec(job, json::array({c}), p.volumes));
}

json WorkerJob(const std::string& job, const std::string& ns, const JobSpec& spec,
               const std::string& image, int pods) {
  const auto& r = spec.resources();
  PodParts p = CommonParts(job, spec);
  p.env.push_back(Env("MT_COORDINATOR", fmt::format("{}-coordinator:{}", job, kCoordinatorPort)));
  // The collectives between pods: Gloo listens on, and advertises, the pod's own address.
  p.env.push_back(
      {{"name", "MT_COMM_HOST"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}});
  // NCCL and several ranks per pod share memory: more than the container default 64 MiB.
  p.volumes.push_back({{"name", "dshm"}, {"emptyDir", {{"medium", "Memory"}}}});
  p.mounts.push_back({{"name", "dshm"}, {"mountPath", "/dev/shm"}});
  if (!r.token_secret().empty()) p.env.push_back(Env("MT_COORDINATOR_TOKEN_FILE", TokenPath()));
  if (spec.device() == "cuda") {
    p.env.push_back(Env("NCCL_DEBUG", "WARN"));
    p.env.push_back(Env("NCCL_SOCKET_IFNAME", "eth0"));
  }
  json args = {"worker", kJobFile, "--run-dir", "/scratch/run", "--register"};
  if (r.ranks_per_pod() > 1) {
    args.push_back("--ranks-per-pod");
    args.push_back(std::to_string(r.ranks_per_pod()));
  }
  json resources = {{"requests", {{"cpu", r.cpu()}, {"memory", r.memory()}}},
                    {"limits", {{"memory", r.memory()}}}};
  if (r.gpus_per_pod() > 0) {
    resources["requests"]["nvidia.com/gpu"] = std::to_string(r.gpus_per_pod());
    resources["limits"]["nvidia.com/gpu"] = std::to_string(r.gpus_per_pod());
  }
  json c = Container("worker", image, std::move(args), p, std::move(resources));
  json pod = PodSpec(job, json::array({c}), p.volumes);
  pod["restartPolicy"] = "Never";
  pod["subdomain"] = job + "-workers";  // <pod>.<job>-workers: stable DNS per index
  if (!r.node_selector().empty()) {
    pod["nodeSelector"] = json::object();
    for (const auto& [k, v] : r.node_selector()) pod["nodeSelector"][k] = v;
  }
  if (!r.tolerations().empty()) {
    pod["tolerations"] = json::array();
    for (const auto& t : r.tolerations()) {
      json tol = {{"key", t.key()}, {"operator", t.operator_()}};
      if (t.operator_() == "Equal") tol["value"] = t.value();
      if (!t.effect().empty()) tol["effect"] = t.effect();
      pod["tolerations"].push_back(tol);
    }
  }
  auto exit_rule = [](const char* action, int code) {
    return json{
        {"action", action},
        {"onExitCodes", {{"containerName", "worker"}, {"operator", "In"}, {"values", {code}}}}};
  };
  json spec_json = {
      {"completionMode", "Indexed"},
      // An index out of retries fails the Job at once (the others could never finish).
      {"maxFailedIndexes", 0},
      {"completions", pods},
      {"parallelism", pods},
      // Per index: a pod that keeps failing (crashes, a lost coordinator: exit 4) is retried
      // this often; world restarts go through exit 3, which does not count.
      {"backoffLimitPerIndex", spec.fault_tolerance().max_restarts() + 1},
      {"podFailurePolicy",
       {{"rules", json::array({exit_rule("FailJob", kExitInvalid),
                               exit_rule("Ignore", kExitRestart),
                               {{"action", "Ignore"},
                                {"onPodConditions", json::array({{{"type", "DisruptionTarget"},
                                                                  {"status", "True"}}})}}})}}},
      {"template", {{"metadata", {{"labels", Labels(job, "worker")}}}, {"spec", pod}}}};
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata", Meta(job + "-workers", job, ns, "worker")},
          {"spec", std::move(spec_json)}};
}

json Control(const std::string& job, const std::string& ns, const JobSpec& spec,
             const std::string& image, const std::string& claim) {
  PodParts p = CommonParts(job, spec);
  p.volumes.push_back({{"name", "registry"}, {"persistentVolumeClaim", {{"claimName", claim}}}});
  p.mounts.push_back({{"name", "registry"}, {"mountPath", kControlDir}});
  json args = {"control",
               "--listen",
               fmt::format("0.0.0.0:{}", kControlPort),
               "--db",
               std::string(kControlDir) + "/control.db",
               "--runs-dir",
               std::string(kControlDir) + "/runs",
               "--metrics-listen",
               fmt::format("0.0.0.0:{}", kControlMetricsPort)};
  for (const auto& a : TokenArgs(spec)) args.push_back(a);
  json c = Container(
      "control", image, std::move(args), p,
      {{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}}, {"limits", {{"memory", "2Gi"}}}});
  c["ports"] = {ContainerPort("grpc", kControlPort), ContainerPort("metrics", kControlMetricsPort)};
  c["readinessProbe"] = {{"tcpSocket", {{"port", kControlPort}}}, {"periodSeconds", 5}};
  return Deployment(job + "-control", job, ns, "control",
                    PodSpec(job, json::array({c}), p.volumes));
}

json PodsOf(const std::string& job, const std::string& component) {
  return {{"podSelector", {{"matchLabels", Selector(job, component)}}}};
}

json TcpPorts(std::initializer_list<int> ports) {
  json out = json::array();
  for (int port : ports) out.push_back({{"protocol", "TCP"}, {"port", port}});
  return out;
}

json Policy(const std::string& name, const std::string& job, const std::string& ns, json selector,
            json ingress, json egress) {
  json spec = {{"podSelector", {{"matchLabels", std::move(selector)}}},
               {"policyTypes", json::array({"Ingress", "Egress"})}};
  if (!ingress.empty()) spec["ingress"] = std::move(ingress);
  if (!egress.empty()) spec["egress"] = std::move(egress);
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", Meta(name, job, ns)},
          {"spec", std::move(spec)}};
}

// Default deny for every pod of the job, then what each role needs: workers reach the
// coordinator, the control service, each other (the collectives' ports are chosen at run
// time: all TCP), DNS and the blob endpoint; Prometheus (any namespace) scrapes the metrics
// ports.
std::vector<json> NetworkPolicies(const std::string& job, const std::string& ns,
                                  const JobSpec& spec, bool own_control) {
  const json dns = {
      {"to", json::array({{{"namespaceSelector", json::object()},
                           {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}}})},
      {"ports",
       json::array({{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}})}};
  const json blob = {
      {"to", json::array({{{"ipBlock", {{"cidr", spec.resources().blob_endpoint()}}}}})},
      {"ports", TcpPorts({443})}};
  const json anyone = {{"namespaceSelector", json::object()}};
  json to_control = json::array();
  if (own_control) {
    to_control.push_back(
        {{"to", json::array({PodsOf(job, "control")})}, {"ports", TcpPorts({kControlPort})}});
  } else if (const std::string& e = spec.control().endpoint(); e.rfind(':') != std::string::npos) {
    // A control service outside the job: its port, wherever it is (a policy cannot name hosts).
    int port = 0;
    if (absl::SimpleAtoi(e.substr(e.rfind(':') + 1), &port) && port > 0) {
      to_control.push_back({{"ports", TcpPorts({port})}});
    }
  }
  std::vector<json> out;
  out.push_back(Policy(job + "-default-deny", job, ns, {{"app.kubernetes.io/instance", job}},
                       json::array(), json::array()));
  json worker_egress = {
      {{"to", json::array({PodsOf(job, "worker")})}},
      {{"to", json::array({PodsOf(job, "coordinator")})}, {"ports", TcpPorts({kCoordinatorPort})}},
      dns,
      blob};
  for (const auto& e : to_control) worker_egress.push_back(e);
  out.push_back(Policy(job + "-workers", job, ns, Selector(job, "worker"),
                       json::array({{{"from", json::array({PodsOf(job, "worker")})}}}),
                       worker_egress));
  json coord_egress = {dns, blob};
  for (const auto& e : to_control) coord_egress.push_back(e);
  out.push_back(Policy(job + "-coordinator", job, ns, Selector(job, "coordinator"),
                       json::array({{{"from", json::array({PodsOf(job, "worker")})},
                                     {"ports", TcpPorts({kCoordinatorPort})}},
                                    {{"from", json::array({anyone})},
                                     {"ports", TcpPorts({kCoordinatorMetricsPort})}}}),
                       coord_egress));
  if (own_control) {
    out.push_back(
        Policy(job + "-control", job, ns, Selector(job, "control"),
               json::array(
                   {{{"from", json::array({PodsOf(job, "worker"), PodsOf(job, "coordinator")})},
                     {"ports", TcpPorts({kControlPort})}},
                    {{"from", json::array({anyone})}, {"ports", TcpPorts({kControlMetricsPort})}}}),
               json::array({dns, blob})));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<json>> Render(const JobSpec& spec, const RenderOptions& o) {
  const auto& r = spec.resources();
  const int world = spec.mesh().dp() * spec.mesh().tp() * spec.mesh().pp();
  const int per_pod = std::max(1, r.ranks_per_pod());
  if (world % per_pod != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "resources.ranks_per_pod: {} does not divide the world size {} into pods", per_pod, world));
  }
  if (r.gpus_per_pod() > 0 && spec.device() != "cuda") {
    return absl::InvalidArgumentError(fmt::format(
        "resources.gpus_per_pod: {} GPUs per pod requested for a job on the CPU (device: {}, "
        "backend: {})",
        r.gpus_per_pod(), spec.device(), spec.backend()));
  }
  const std::string job = spec.name();
  const std::string ns = o.namespace_name.empty() ? r.namespace_() : o.namespace_name;
  const std::string image =
      !o.image.empty() ? o.image : (!r.image().empty() ? r.image() : kDefaultImage);
  const std::string cpu_image = o.cpu_image.empty() ? image : o.cpu_image;
  const bool own_control = spec.control().endpoint() == "embedded";
  MT_ASSIGN_OR_RETURN(std::string job_file, EffectiveJob(spec, job, own_control));
  std::vector<json> out;
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", Meta(job + "-job", job, ns)},
                 {"data", {{"job.yaml", job_file}}}});
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "ServiceAccount"},
                 {"metadata", Meta(job, job, ns)},
                 {"automountServiceAccountToken", false}});
  for (json& p : NetworkPolicies(job, ns, spec, own_control)) out.push_back(std::move(p));
  if (own_control) {
    const std::string claim = r.control_claim().empty() ? job + "-control" : r.control_claim();
    if (r.control_claim().empty()) {
      out.push_back({{"apiVersion", "v1"},
                     {"kind", "PersistentVolumeClaim"},
                     {"metadata", Meta(claim, job, ns, "control")},
                     {"spec",
                      {{"accessModes", json::array({"ReadWriteOnce"})},
                       {"resources", {{"requests", {{"storage", r.control_storage()}}}}}}}});
    }
    out.push_back(Control(job, ns, spec, cpu_image, claim));
    out.push_back(
        Service(job + "-control", job, ns, "control",
                json::array({Port("grpc", kControlPort), Port("metrics", kControlMetricsPort)})));
  }
  out.push_back(Coordinator(job, ns, spec, cpu_image, world));
  out.push_back(Service(
      job + "-coordinator", job, ns, "coordinator",
      json::array({Port("grpc", kCoordinatorPort), Port("metrics", kCoordinatorMetricsPort)})));
  json headless = Service(job + "-workers", job, ns, "worker", json::array());
  headless["spec"]["clusterIP"] = "None";
  headless["spec"].erase("ports");
  out.push_back(std::move(headless));
  out.push_back(WorkerJob(job, ns, spec, image, world / per_pod));
  return out;
}

}  // namespace mt::k8s
