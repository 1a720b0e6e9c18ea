// Validates rendered Kubernetes manifests offline (scripts/check-deploy.sh helm).
//
// Usage: node deploy/tools/validate-k8s.mjs FILE.yaml...
// Each YAML document is validated against the Kubernetes OpenAPI schema of its apiVersion/kind
// (npm kubernetes-models; prometheus-operator CRDs from @kubernetes-models/prometheus-operator).
// Those schemas check types, enums and required fields but allow unknown fields, which the API
// server rejects (or silently drops), so core objects are also walked field by field against
// the generated models of @kubernetes/client-node, which list every known field. On top, a few
// structural checks that catch real chart mistakes: workload selectors match their pod labels,
// probes name a declared port, mounts name a declared volume, every container drops all
// capabilities and sets a memory limit, names are DNS labels. Exit 0 when every object passes.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
// The package's index pulls in an HTTP client that needs a newer Node; the models alone do not.
import * as clientModels from "@kubernetes/client-node/dist/gen/models/all.js";

// Kinds this chart may render; anything else is an error so a new template is not skipped.
const kModules = {
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/StatefulSet": "kubernetes-models/apps/v1/StatefulSet",
  "apps/v1/DaemonSet": "kubernetes-models/apps/v1/DaemonSet",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
};

const kDnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// Types the field walk does not descend into (leaf values; kubernetes-models checks their type).
const kLeafTypes = new Set(["string", "number", "boolean", "Date", "any", "object", "IntOrString"]);

// Reports every key of `value` that the client model `type` does not know, recursively.
function unknownFields(value, type, path, problems) {
  if (value == null) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], `${path}[${i}]`, problems));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}.${k}`, problems);
    return;
  }
  const model = clientModels[type];
  if (kLeafTypes.has(type) || !model?.getAttributeTypeMap || typeof value !== "object") return;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) problems.push(`${path}.${k}: unknown field (not in ${type})`);
    else unknownFields(v, fields.get(k), `${path}.${k}`, problems);
  }
}

// V1DaemonSet for apps/v1 DaemonSet, V1Service for v1 Service; null for CRDs (other groups).
function clientModelName(obj) {
  const m = /^(?:(apps|batch|policy|[a-z.]+\.k8s\.io)\/)?(v\d+(?:(?:alpha|beta)\d+)?)$/.exec(obj.apiVersion ?? "");
  if (!m) return null;
  const version = m[2][0].toUpperCase() + m[2].slice(1);
  return `${version}${obj.kind}`;
}

function podSpecOf(obj) {
  return obj.spec?.template?.spec;
}

// Extra checks the OpenAPI schemas cannot express; returns a list of problems.
function structuralProblems(obj) {
  const problems = [];
  const name = obj.metadata?.name ?? "";
  if (!kDnsLabel.test(name) || name.length > 63) {
    problems.push(`metadata.name "${name}" is not a DNS label of at most 63 characters`);
  }
  const pod = podSpecOf(obj);
  if (!pod) return problems;
  const selector = obj.spec.selector?.matchLabels ?? {};
  const labels = obj.spec.template.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) problems.push(`selector ${k}=${v} does not match the pod template labels`);
  }
  const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
  for (const claim of obj.spec.volumeClaimTemplates ?? []) volumes.add(claim.metadata.name);
  const all = [...(pod.initContainers ?? []), ...pod.containers];
  for (const c of all) {
    const where = `container "${c.name}"`;
    const ports = new Set((c.ports ?? []).map((p) => p.name));
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const port = c[probe]?.httpGet?.port;
      if (typeof port === "string" && !ports.has(port)) {
        problems.push(`${where} ${probe} uses port "${port}" that the container does not declare`);
      }
    }
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) problems.push(`${where} mounts undeclared volume "${m.name}"`);
    }
    if (!(c.securityContext?.capabilities?.drop ?? []).includes("ALL")) {
      problems.push(`${where} does not drop ALL capabilities`);
    }
    if (c.securityContext?.allowPrivilegeEscalation !== false) {
      problems.push(`${where} does not set allowPrivilegeEscalation: false`);
    }
    if (!c.resources?.limits?.memory) problems.push(`${where} has no memory limit`);
  }
  return problems;
}

async function validateFile(path) {
  let failures = 0;
  let count = 0;
  const docs = parseAllDocuments(readFileSync(path, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.error(`${path}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (obj == null) continue; // empty document between separators
    count++;
    const key = `${obj.apiVersion}/${obj.kind}`;
    const label = `${path}: ${obj.kind}/${obj.metadata?.name}`;
    const modulePath = kModules[key];
    if (!modulePath) {
      console.error(`${label}: no schema known for ${key}; add it to kModules in validate-k8s.mjs`);
      failures++;
      continue;
    }
    const mod = await import(modulePath);
    const Model = mod[obj.kind];
    const problems = [];
    try {
      new Model(obj).validate();
    } catch (e) {
      problems.push(`schema: ${e.message}`);
    }
    const modelName = clientModelName(obj);
    if (modelName && clientModels[modelName]) unknownFields(obj, modelName, obj.kind, problems);
    problems.push(...structuralProblems(obj));
    if (problems.length) {
      failures++;
      for (const p of problems) console.error(`${label}: ${p}`);
    } else {
      console.log(`ok  ${label}`);
    }
  }
  if (count === 0) {
    console.error(`${path}: no Kubernetes objects found`);
    failures++;
  }
  return failures;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate-k8s.mjs FILE.yaml...");
  process.exit(2);
}
let failures = 0;
for (const f of files) failures += await validateFile(f);
if (failures) {
  console.error(`validate-k8s: ${failures} object(s) failed`);
  process.exit(1);
}
