#!/usr/bin/env bash
# The alerts shipped as a PrometheusRule (deploy/k8s/overlays/prod/prometheus-rules.yaml): its
# spec, as a Prometheus rules file, passes `promtool check rules`, and the alerts' unit tests
# (deploy/tests/alerts_test.yaml) pass `promtool test rules`. Then it proves the tests can fail:
# with an alert's threshold changed, `promtool test rules` must fail.
#   deploy/tests/promtool_rules_test.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RULE="$ROOT/deploy/k8s/overlays/prod/prometheus-rules.yaml"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# spec.groups of the PrometheusRule, as a rules file (the Operator hands Prometheus the same).
(cd "$ROOT/deploy/tests" && node -e '
  const yaml = require("js-yaml");
  const fs = require("fs");
  const rule = yaml.load(fs.readFileSync(process.argv[1], "utf8"));
  if (rule.kind !== "PrometheusRule") throw new Error("not a PrometheusRule: " + rule.kind);
  fs.writeFileSync(process.argv[2], yaml.dump({ groups: rule.spec.groups }));
' "$RULE" "$WORK/rules.yaml")
cp "$ROOT/deploy/tests/alerts_test.yaml" "$WORK/"

promtool check rules "$WORK/rules.yaml"
(cd "$WORK" && promtool test rules alerts_test.yaml)

# Every alert has a test.
for alert in $(grep -oP '^\s*- alert: \K\w+' "$RULE"); do
  grep -q "alertname: $alert\$" "$WORK/alerts_test.yaml" || { echo "no test for $alert" >&2; exit 1; }
done

# A test that cannot fail proves nothing: move the outbox alert's threshold and expect a failure.
sed -i 's/outbox_oldest_pending_age_seconds) > 60/outbox_oldest_pending_age_seconds) > 600/' "$WORK/rules.yaml"
if (cd "$WORK" && promtool test rules alerts_test.yaml >/dev/null 2>&1); then
  echo "promtool test rules passed with a broken threshold" >&2
  exit 1
fi
echo "promtool: $(grep -c -- '- alert:' "$RULE") alerts checked and unit-tested"
