// Prints, as JSON, how Kubernetes would start each Deployment's container of a rendered overlay:
// command, args, the environment with every valueFrom / envFrom resolved against the rendered
// ConfigMaps and Secrets, the files its Secret volumes put where (mountPath/key -> content),
// its emptyDir mounts, its ports and its gRPC probes; the same for each StatefulSet (the dev
// overlay's PostgreSQL and Redis: their credentials). manifest_launch_test starts the real
// binaries from exactly this, and tools/cluster its containers.
//   node deploy/tests/launch_specs.js deploy/k8s/overlays/dev
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");
const yaml = require("js-yaml");

const overlay = process.argv[2] || "deploy/k8s/overlays/dev";
const root = path.resolve(__dirname, "../..");
const objects = yaml
  .loadAll(execFileSync("kubectl", ["kustomize", path.resolve(root, overlay)], { encoding: "utf8" }))
  .filter(Boolean);

const configMaps = new Map();
const secrets = new Map();
for (const o of objects) {
  if (o.kind === "ConfigMap") configMaps.set(o.metadata.name, o.data || {});
  if (o.kind === "Secret") {
    const data = {};
    for (const [k, v] of Object.entries(o.data || {})) {
      data[k] = Buffer.from(String(v).replace(/\s+/g, ""), "base64").toString("utf8");
    }
    for (const [k, v] of Object.entries(o.stringData || {})) data[k] = v;
    secrets.set(o.metadata.name, data);
  }
}

function lookup(source, name, key, what) {
  const data = source.get(name);
  if (!data || !(key in data)) throw new Error(`${what} ${name} has no key ${key}`);
  return data[key];
}

function grpcProbe(probe) {
  return probe && probe.grpc ? { port: probe.grpc.port, service: probe.grpc.service || "" } : null;
}

const specs = [];
const statefulSets = [];
for (const d of objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")) {
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  const env = {};
  for (const from of c.envFrom || []) {
    if (from.configMapRef) Object.assign(env, configMaps.get(from.configMapRef.name));
    if (from.secretRef) Object.assign(env, secrets.get(from.secretRef.name));
  }
  for (const e of c.env || []) {
    if ("value" in e) env[e.name] = e.value;
    else if (e.valueFrom && e.valueFrom.configMapKeyRef) {
      const r = e.valueFrom.configMapKeyRef;
      env[e.name] = lookup(configMaps, r.name, r.key, "ConfigMap");
    } else if (e.valueFrom && e.valueFrom.secretKeyRef) {
      const r = e.valueFrom.secretKeyRef;
      env[e.name] = lookup(secrets, r.name, r.key, "Secret");
    } else {
      throw new Error(`${d.metadata.name}: env ${e.name} has a source this test does not know`);
    }
  }
  const volumes = new Map((pod.volumes || []).map((v) => [v.name, v]));
  const files = {};
  const empty_dirs = [];
  for (const m of c.volumeMounts || []) {
    const v = volumes.get(m.name);
    if (!v) {
      continue;  // a StatefulSet's volumeClaimTemplate: its storage, not a file of the spec
    } else if (v.secret) {
      for (const [k, content] of Object.entries(secrets.get(v.secret.secretName))) {
        files[`${m.mountPath}/${k}`] = content;
      }
    } else if (v.emptyDir) {
      empty_dirs.push(m.mountPath);
    } else {
      throw new Error(`${d.metadata.name}: volume ${m.name} is of a kind this test does not know`);
    }
  }
  (d.kind === "Deployment" ? specs : statefulSets).push({
    name: d.metadata.name,
    command: c.command || [],
    args: c.args || [],
    env,
    files,
    empty_dirs,
    ports: Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort])),
    readiness: grpcProbe(c.readinessProbe),
    liveness: grpcProbe(c.livenessProbe),
    startup: grpcProbe(c.startupProbe),
    run_as_user: (c.securityContext && c.securityContext.runAsUser) ||
                 (pod.securityContext && pod.securityContext.runAsUser) || null,
    read_only_root: !!(c.securityContext && c.securityContext.readOnlyRootFilesystem),
    drop_capabilities: (c.securityContext && c.securityContext.capabilities &&
                        c.securityContext.capabilities.drop) || [],
    allow_privilege_escalation: !(c.securityContext &&
                                  c.securityContext.allowPrivilegeEscalation === false),
  });
}
// Services: name -> port number by port name, for mapping peer addresses.
const services = {};
for (const s of objects.filter((o) => o.kind === "Service")) {
  services[s.metadata.name] = Object.fromEntries(s.spec.ports.map((p) => [p.name, p.port]));
}
process.stdout.write(
  JSON.stringify({ deployments: specs, stateful_sets: statefulSets, services }, null, 1));
