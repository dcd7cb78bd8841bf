// The cert-manager.io/v1 kinds the prod overlay uses (Issuer, Certificate), checked the way
// validate_manifests.js checks Kubernetes' own: known fields only, required fields, enums and
// formats. cert-manager's CRD schemas are not packaged for npm or Debian; this is the subset of
// its v1 API (https://cert-manager.io/docs/reference/api-docs/) the overlay may use.
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

const kinds = {
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
      findings.push(`${at}.${k}: not a field of cert-manager's ${at.split(".")[0]}`);
      continue;
    }
    checkShape(v, shape.fields[k], `${at}.${k}`, findings);
  }
}

// Findings for a cert-manager.io/v1 object; null for any other apiVersion.
function certManagerFindings(object) {
  if (object.apiVersion !== "cert-manager.io/v1") return null;
  const shape = kinds[object.kind];
  if (!shape) return [`cert-manager.io/v1 ${object.kind} is not a kind this check knows`];
  const findings = [];
  checkShape(object, shape, object.kind, findings);
  return findings;
}

module.exports = { certManagerFindings };
