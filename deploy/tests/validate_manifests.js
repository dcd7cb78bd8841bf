// Renders every overlay with `kubectl kustomize` and checks each object it produces:
//   1. against the Kubernetes JSON schemas (npm kubernetes-models: types, required fields,
//      formats), and
//   2. for unknown fields, which those schemas let through: every key must be a field of its
//      type in the Kubernetes API (the attribute maps of @kubernetes/client-node's models), so a
//      misspelt `readinesProbe` fails.
// Then it proves both checks can fail: it misspells a field and breaks a type in a copy of a
// rendered Deployment and expects each to be caught. Prints one line per overlay; exits 1 on any
// finding.
//   node deploy/tests/validate_manifests.js [overlay-dir ...]
"use strict";
const { execFileSync } = require("child_process");
const path = require("path");
const yaml = require("js-yaml");
const k8s = require("@kubernetes/client-node");
const { customResourceFindings } = require("./custom_resource_schemas");

const root = path.resolve(__dirname, "../..");
const overlays = process.argv.length > 2
  ? process.argv.slice(2)
  : ["deploy/k8s/overlays/dev", "deploy/k8s/overlays/prod"];

// apiVersion + kind -> the client-node model class name: apps/v1 Deployment -> V1Deployment.
function modelName(apiVersion, kind) {
  const version = apiVersion.includes("/") ? apiVersion.split("/")[1] : apiVersion;
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

// Keys of `value` that its type (a client-node type string) does not have, as paths.
function unknownFields(value, type, at, found) {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], `${at}[${i}]`, found));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${at}.${k}`, found);
    return;
  }
  const model = k8s[type];
  if (!model || typeof model.getAttributeTypeMap !== "function") return;  // a scalar
  if (typeof value !== "object" || Array.isArray(value)) return;  // the schema check reports it
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!attributes.has(k)) {
      found.push(`${at}.${k}: not a field of ${type}`);
      continue;
    }
    unknownFields(v, attributes.get(k), `${at}.${k}`, found);
  }
}

// Schema findings for one object (kubernetes-models validates on construction's validate()).
function schemaFindings(object) {
  let Model;
  try {
    Model = require(`kubernetes-models/${object.apiVersion}/${object.kind}`)[object.kind];
  } catch (e) {
    return [`no schema for ${object.apiVersion} ${object.kind}`];
  }
  try {
    new Model(object).validate();
    return [];
  } catch (e) {
    return [String(e.message || e).split("\n").slice(0, 5).join("; ")];
  }
}

function check(object) {
  const label = `${object.kind}/${object.metadata && object.metadata.name}`;
  const custom = customResourceFindings(object);
  if (custom) return custom.map((f) => `${label}: ${f}`);
  const findings = schemaFindings(object);
  const unknown = [];
  const type = modelName(object.apiVersion, object.kind);
  if (!k8s[type]) {
    findings.push(`no model ${type} to check fields against`);
  } else {
    unknownFields(object, type, label, unknown);
  }
  return findings.map((f) => `${label}: ${f}`).concat(unknown);
}

function render(overlay) {
  const text = execFileSync("kubectl", ["kustomize", path.resolve(root, overlay)], { encoding: "utf8" });
  const objects = yaml.loadAll(text).filter(Boolean);
  // kustomize writes long base64 values as YAML block scalars, with line breaks, which the API
  // server's base64 decoding skips (as Go's does) but the schema's "byte" format does not.
  for (const o of objects) {
    if (o.kind === "Secret" && o.data) {
      for (const k of Object.keys(o.data)) o.data[k] = String(o.data[k]).replace(/\s+/g, "");
    }
  }
  return objects;
}

let failed = false;
let firstDeployment = null;
let firstCertificate = null;
let firstRule = null;
for (const overlay of overlays) {
  let objects;
  try {
    objects = render(overlay);
  } catch (e) {
    console.log(`FAIL ${overlay}: kubectl kustomize: ${String(e.message || e).split("\n")[0]}`);
    failed = true;
    continue;
  }
  const findings = objects.flatMap(check);
  for (const f of findings) console.log(`FAIL ${overlay}: ${f}`);
  failed = failed || findings.length > 0;
  const kinds = {};
  for (const o of objects) kinds[o.kind] = (kinds[o.kind] || 0) + 1;
  console.log(`${findings.length ? "FAIL" : "ok  "} ${overlay}: ${objects.length} objects (` +
              Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ") + ")");
  firstDeployment = firstDeployment || objects.find((o) => o.kind === "Deployment");
  firstCertificate = firstCertificate || objects.find((o) => o.kind === "Certificate");
  firstRule = firstRule || objects.find((o) => o.kind === "PrometheusRule");
}

// The checks themselves must be able to fail.
if (firstDeployment) {
  const misspelt = JSON.parse(JSON.stringify(firstDeployment));
  const container = misspelt.spec.template.spec.containers[0];
  container.readinesProbe = container.readinessProbe;
  delete container.readinessProbe;
  const mistyped = JSON.parse(JSON.stringify(firstDeployment));
  mistyped.spec.replicas = "two";
  const caughtMisspelling = check(misspelt).some((f) => f.includes("readinesProbe"));
  const caughtType = check(mistyped).length > 0;
  console.log(`${caughtMisspelling && caughtType ? "ok  " : "FAIL"} self-check: a misspelt ` +
              `readinesProbe ${caughtMisspelling ? "is" : "is NOT"} caught, replicas: "two" ` +
              `${caughtType ? "is" : "is NOT"} caught`);
  failed = failed || !caughtMisspelling || !caughtType;
} else {
  console.log("FAIL no Deployment rendered to self-check with");
  failed = true;
}
if (firstCertificate) {
  const misspelt = JSON.parse(JSON.stringify(firstCertificate));
  misspelt.spec.dnsName = misspelt.spec.dnsNames;
  delete misspelt.spec.dnsNames;
  const badUsage = JSON.parse(JSON.stringify(firstCertificate));
  badUsage.spec.usages = ["server-auth"];
  const caught = check(misspelt).some((f) => f.includes("dnsName")) && check(badUsage).length > 0;
  console.log(`${caught ? "ok  " : "FAIL"} self-check: a Certificate's misspelt dnsName and a ` +
              `bad usage ${caught ? "are" : "are NOT"} caught`);
  failed = failed || !caught;
} else {
  console.log("FAIL no Certificate rendered to self-check with");
  failed = true;
}
if (firstRule) {
  const misspelt = JSON.parse(JSON.stringify(firstRule));
  const r = misspelt.spec.groups[0].rules[0];
  r.expresion = r.expr;
  delete r.expr;
  const badFor = JSON.parse(JSON.stringify(firstRule));
  badFor.spec.groups[0].rules[0].for = "5 minutes";
  const caught = check(misspelt).length > 0 && check(badFor).length > 0;
  console.log(`${caught ? "ok  " : "FAIL"} self-check: a PrometheusRule's misspelt expr and a ` +
              `bad "for" ${caught ? "are" : "are NOT"} caught`);
  failed = failed || !caught;
} else {
  console.log("FAIL no PrometheusRule rendered to self-check with");
  failed = true;
}
process.exit(failed ? 1 : 0);
