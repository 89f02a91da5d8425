// Validates Kubernetes manifests offline, as `kubectl apply` would see them, and checks what
// the schemas cannot: usage `node validate_k8s.mjs FILE...` (YAML streams, or a JSON v1 List).
//
// 1. Schema: each object against the official schema of its apiVersion/kind (npm
//    kubernetes-models: types, required fields, enums).
// 2. Unknown fields: the schema validators read every property they know; the object is
//    wrapped in a Proxy recording what was read, and a key never read is a field the API server
//    would reject (or silently drop).
// 3. Our rules: every container's security context (non-root, read-only root filesystem, no
//    privilege escalation, capabilities drop ALL, seccomp RuntimeDefault), no service account
//    token, the worker Job's restartPolicy / completionMode / podFailurePolicy, selectors that
//    match their pods, no secret value inlined, NetworkPolicies covering every pod.
// Prints one line per problem and exits 1 when there is any.
import { createRequire } from "module";
import { readFileSync } from "fs";
import { dirname, join } from "path";
import { fileURLToPath } from "url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, ".cache", "npm", "node_modules", "x.js"));
const yaml = require("js-yaml");

const problems = [];
const fail = (where, what) => problems.push(`${where}: ${what}`);

function load(path) {
  const text = readFileSync(path, "utf8");
  if (text.trimStart().startsWith("{")) {
    const list = JSON.parse(text);
    return list.kind === "List" ? list.items : [list];
  }
  return yaml.loadAll(text).filter((o) => o !== null && o !== undefined);
}

function modelOf(obj) {
  const [group, version] = obj.apiVersion.includes("/")
    ? obj.apiVersion.split("/")
    : ["", obj.apiVersion];
  const path = group === "" ? `kubernetes-models/${version}/${obj.kind}`
                            : `kubernetes-models/${group}/${version}/${obj.kind}`;
  return require(path)[obj.kind];
}

// A deep proxy recording the paths of the keys validators read.
function tracked(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") seen.add(`${path}/${key}`);
      const v = Reflect.get(target, key, receiver);
      return typeof key === "string" ? tracked(v, `${path}/${key}`, seen) : v;
    },
    ownKeys(target) {  // maps (labels, data) are iterated: every key counts as read
      for (const k of Reflect.ownKeys(target)) seen.add(`${path}/${String(k)}`);
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(value, path, seen, out) {
  if (value === null || typeof value !== "object") return;
  for (const key of Object.keys(value)) {
    const p = `${path}/${key}`;
    if (!seen.has(p)) out.push(p);
    else unknownFields(value[key], p, seen, out);
  }
}

function schemaCheck(obj, where) {
  let Model;
  try {
    Model = modelOf(obj);
  } catch (e) {
    fail(where, `no schema for ${obj.apiVersion} ${obj.kind}`);
    return;
  }
  const validate = new Model(obj).validate.bind(new Model(obj));
  try {
    validate();
  } catch (e) {
    fail(where, `schema: ${e.message}`);
  }
  // Unknown fields: validate a tracked copy through the same validator.
  const seen = new Set(["/apiVersion", "/kind"]);
  const model = new Model(JSON.parse(JSON.stringify(obj)));
  const proxied = tracked(model, "", seen);
  try {
    Model.prototype.validate.call(proxied);
  } catch (e) {
    // reported above
  }
  const unknown = [];
  unknownFields(obj, "", seen, unknown);
  for (const p of unknown) fail(where, `unknown field ${p}`);
}

function podSpecOf(obj) {
  if (obj.kind === "Deployment" || obj.kind === "Job") return obj.spec?.template?.spec;
  return undefined;
}

function checkPod(obj, where) {
  const pod = podSpecOf(obj);
  if (!pod) return;
  const podSec = pod.securityContext ?? {};
  if (pod.automountServiceAccountToken !== false) {
    fail(where, "automountServiceAccountToken must be false");
  }
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const w = `${where} container ${c.name}`;
    const sec = c.securityContext ?? {};
    if (sec.allowPrivilegeEscalation !== false) fail(w, "allowPrivilegeEscalation must be false");
    if (sec.readOnlyRootFilesystem !== true) fail(w, "readOnlyRootFilesystem must be true");
    if (!(sec.capabilities?.drop ?? []).includes("ALL")) fail(w, "capabilities must drop ALL");
    if (sec.runAsNonRoot !== true && podSec.runAsNonRoot !== true) fail(w, "runAsNonRoot");
    const seccomp = sec.seccompProfile?.type ?? podSec.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault") fail(w, "seccompProfile must be RuntimeDefault");
    for (const e of c.env ?? []) {
      // A path (to a mounted Secret) is not the secret; a literal value is.
      if (/TOKEN|KEY|SAS|PASSWORD|SECRET|CONNECTION_STRING/.test(e.name) && "value" in e &&
          !String(e.value).startsWith("/")) {
        fail(w, `env ${e.name} inlines a secret (use valueFrom or envFrom a Secret)`);
      }
    }
  }
  const labels = obj.spec.template.metadata?.labels ?? {};
  const sel = obj.spec.selector?.matchLabels ?? {};
  for (const [k, v] of Object.entries(sel)) {
    if (labels[k] !== v) fail(where, `selector ${k}=${v} does not match the pod template`);
  }
}

function checkJob(obj, where) {
  if (obj.kind !== "Job") return;
  const s = obj.spec;
  const pod = s.template.spec;
  if (pod.restartPolicy !== "Never") fail(where, "restartPolicy must be Never");
  if (s.completionMode !== "Indexed") fail(where, "completionMode must be Indexed");
  if (s.completions !== s.parallelism) fail(where, "completions must equal parallelism");
  if (!(s.backoffLimitPerIndex >= 1)) fail(where, "backoffLimitPerIndex must be set");
  const rules = s.podFailurePolicy?.rules ?? [];
  const failJob = rules.find((r) => r.action === "FailJob" && r.onExitCodes?.operator === "In" &&
                                    r.onExitCodes.values.includes(2));
  if (!failJob) fail(where, "podFailurePolicy needs FailJob on exit code 2 (invalid job)");
  const disruption = rules.find((r) => r.action === "Ignore" &&
      (r.onPodConditions ?? []).some((c) => c.type === "DisruptionTarget"));
  if (!disruption) fail(where, "podFailurePolicy must ignore DisruptionTarget (preemption)");
  for (const r of rules) {
    const name = r.onExitCodes?.containerName;
    if (name && !pod.containers.some((c) => c.name === name)) {
      fail(where, `podFailurePolicy names container ${name}, which the pod does not have`);
    }
  }
}

function checkAll(objects) {
  const pods = [];
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata?.name}`;
    schemaCheck(o, where);
    if (o.kind === "Secret") fail(where, "secrets are referenced, never rendered");
    checkPod(o, where);
    checkJob(o, where);
    if (podSpecOf(o)) pods.push({ where, labels: o.spec.template.metadata?.labels ?? {} });
  }
  const matches = (sel, labels) => Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v);
  for (const o of objects.filter((x) => x.kind === "Service")) {
    const sel = o.spec.selector;
    if (!pods.some((p) => matches(sel, p.labels))) {
      fail(`Service/${o.metadata.name}`, "its selector matches no pod of the manifests");
    }
  }
  const policies = objects.filter((x) => x.kind === "NetworkPolicy");
  for (const p of pods) {
    const covered = policies.some((np) => matches(np.spec.podSelector.matchLabels, p.labels) &&
        (np.spec.policyTypes ?? []).includes("Ingress") &&
        (np.spec.policyTypes ?? []).includes("Egress"));
    if (!covered) fail(p.where, "no NetworkPolicy restricts both its ingress and egress");
  }
  const sa = objects.find((x) => x.kind === "ServiceAccount");
  if (sa && sa.automountServiceAccountToken !== false) {
    fail(`ServiceAccount/${sa.metadata.name}`, "automountServiceAccountToken must be false");
  }
}

let count = 0;
for (const path of process.argv.slice(2)) {
  const objects = load(path);
  count += objects.length;
  checkAll(objects);
}
for (const p of problems) console.log(p);
console.log(problems.length === 0 ? `ok: ${count} objects` : `${problems.length} problem(s)`);
process.exit(problems.length === 0 ? 0 : 1);
