// The custom resources the prod overlay uses, checked the way validate_manifests.js checks
// Kubernetes' own: known fields only, required fields, enums and formats. Their CRD schemas are
// not packaged for npm or Debian; these are the subsets the overlay may use of
// cert-manager.io/v1 (Issuer, Certificate; https://cert-manager.io/docs/reference/api-docs/)
// and monitoring.coreos.com/v1 (PrometheusRule; the Prometheus Operator's API reference).
"use strict";

const duration = (v) => typeof v === "string" && /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/.test(v);
const string = (v) => typeof v === "string" && v.length > 0;
const strings = (v) => Array.isArray(v) && v.every(string);
const oneOf = (...values) => (v) => values.includes(v);

const objectMeta = { fields: { name: string, namespace: string, labels: null, annotations: null } };

// A shape: { fields: { name: check | shape | null (anything) }, required: [...] }.
const issuerRef = {
  fields: { name: string, kind: oneOf("Issuer", "ClusterIssuer"), group: string },
  required: ["name"],
};
const privateKey = {
  fields: {
    algorithm: oneOf("RSA", "ECDSA", "Ed25519"),
    size: (v) => Number.isInteger(v) && v > 0,
    encoding: oneOf("PKCS1", "PKCS8"),
    rotationPolicy: oneOf("Never", "Always"),
  },
};
const usage = oneOf("signing", "digital signature", "content commitment", "key encipherment",
                    "key agreement", "data encipherment", "cert sign", "crl sign",
                    "encipher only", "decipher only", "any", "server auth", "client auth",
                    "code signing", "email protection", "s/mime", "ipsec end system",
                    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
                    "microsoft sgc", "netscape sgc");

const certManagerKinds = {
  Issuer: {
    fields: {
      apiVersion: null, kind: null, metadata: objectMeta,
      spec: {
        fields: {
          ca: { fields: { secretName: string, crlDistributionPoints: strings, ocspServers: strings },
                required: ["secretName"] },
          selfSigned: { fields: { crlDistributionPoints: strings } },
        },
      },
    },
    required: ["metadata", "spec"],
  },
  Certificate: {
    fields: {
      apiVersion: null, kind: null, metadata: objectMeta,
      spec: {
        fields: {
          secretName: string, issuerRef, commonName: string, dnsNames: strings,
          ipAddresses: strings, uris: strings, emailAddresses: strings, duration,
          renewBefore: duration, usages: (v) => Array.isArray(v) && v.every(usage), privateKey,
          isCA: (v) => typeof v === "boolean", revisionHistoryLimit: Number.isInteger,
          subject: null, secretTemplate: null,
        },
        required: ["secretName", "issuerRef"],
      },
    },
    required: ["metadata", "spec"],
  },
};

// A rule's expression and a group's interval are strings Prometheus parses (promtool checks
// them: deploy/tests/promtool_rules_test.sh).
const labelMap = (v) => typeof v === "object" && v !== null && !Array.isArray(v) &&
  Object.entries(v).every(([k, x]) => /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) && typeof x === "string");
const rule = {
  fields: { alert: string, record: string, expr: string, for: duration,
            keep_firing_for: duration, labels: labelMap, annotations: labelMap },
  required: ["expr"],
};
const monitoringKinds = {
  PrometheusRule: {
    fields: {
      apiVersion: null, kind: null, metadata: objectMeta,
      spec: {
        fields: {
          groups: (v) => Array.isArray(v) && v.length > 0 && v.every((g) => {
            const found = [];
            checkShape(g, {
              fields: { name: string, interval: duration, limit: Number.isInteger,
                        partial_response_strategy: string,
                        rules: (r) => Array.isArray(r) && r.every((x) => {
                          const inner = [];
                          checkShape(x, rule, "rule", inner);
                          return inner.length === 0 && (("alert" in x) !== ("record" in x));
                        }) },
              required: ["name", "rules"],
            }, "group", found);
            return found.length === 0;
          }),
        },
        required: ["groups"],
      },
    },
    required: ["metadata", "spec"],
  },
};
const byApiVersion = {
  "cert-manager.io/v1": certManagerKinds,
  "monitoring.coreos.com/v1": monitoringKinds,
};

function checkShape(value, shape, at, findings) {
  if (typeof shape === "function") {
    if (!shape(value)) findings.push(`${at}: invalid value ${JSON.stringify(value)}`);
    return;
  }
  if (shape === null) return;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    findings.push(`${at}: must be an object`);
    return;
  }
  for (const r of shape.required || []) {
    if (!(r in value)) findings.push(`${at}.${r}: required`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (!(k in shape.fields)) {
      findings.push(`${at}.${k}: not a field of ${at.split(".")[0]}`);
      continue;
    }
    checkShape(v, shape.fields[k], `${at}.${k}`, findings);
  }
}

// Findings for a custom resource of a known apiVersion; null for any other apiVersion.
function customResourceFindings(object) {
  const kinds = byApiVersion[object.apiVersion];
  if (!kinds) return null;
  const shape = kinds[object.kind];
  if (!shape) return [`${object.apiVersion} ${object.kind} is not a kind this check knows`];
  const findings = [];
  checkShape(object, shape, object.kind, findings);
  return findings;
}

module.exports = { customResourceFindings };
