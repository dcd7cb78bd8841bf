#!/usr/bin/env bash
# The production-like topology, run as docs/deploy.md shows it: `tools/cluster up` (two replicas
# of each service from the image of this build tree, PostgreSQL, Redis, SMTP), `status`, a
# customer made with a token from `token` and seen on both replicas' counters, the fault driver
# against it (kill -9 of a customer replica, SIGTERM to one, a rolling restart of the customer
# service under load: nothing lost or duplicated, every saga converged), a short `bench`, and
# `down`. A topology of its own name and subnet, so that one a developer runs is left alone.
#   cluster_test.sh BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$(cd "$1" && pwd)"
export MSP_BUILD_DIR="$BUILD"
export MSP_CLUSTER_NAME=msptest
export MSP_CLUSTER_SUBNET=172.29.7.0/24
export MSP_CLUSTER_DIR="$(mktemp -d /tmp/msp-cluster-test-XXXXXX)"
CLUSTER="$ROOT/tools/cluster"
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() { "$CLUSTER" down >/dev/null 2>&1 || true; rm -rf "$MSP_CLUSTER_DIR"; }
trap cleanup EXIT
"$CLUSTER" down >/dev/null 2>&1 || true   # what an earlier run left, if it was killed

start=$SECONDS
"$CLUSTER" up --build-dir "$BUILD" > "$MSP_CLUSTER_DIR.up.log" 2>&1 ||
  { cat "$MSP_CLUSTER_DIR.up.log"; fail "cluster up"; }
echo "up in $((SECONDS - start)) s"

status="$("$CLUSTER" status)"
echo "$status"
for s in customer service-assignment onboarding-invitation reporting; do
  for n in 1 2; do
    echo "$status" | grep -Eq "^msptest-$s-$n +172\.29\.7\.[0-9]+:[0-9]+ +running +SERVING" ||
      fail "msptest-$s-$n is not running and SERVING"
  done
done
customer_target="$(echo "$status" | sed -n 's/^customer: //p')"
[[ "$customer_target" == ipv4:172.29.7.21:50051,172.29.7.22:50051 ]] ||
  fail "customer target: $customer_target"

# A create through msp_call with the topology's token; then a second of creates from the load
# generator's round robin, which both replicas answer.
token="$("$CLUSTER" token --msp cluster-test)"
handled() {
  curl -s "http://$1:9101/metrics" | awk '$1 ~ /^grpc_server_handled_total\{/ &&
    $1 ~ /grpc_method="CreateCustomer"/ && $1 ~ /grpc_code="OK"/ {s += $2} END {printf "%d", s}'
}
"$BUILD/tools/msp_call" -plaintext -H "authorization: Bearer $token" \
  -d '{"parent":"msps/cluster-test","request_id":"cluster-test-1","customer":{"company":{"display_name":"Cluster Test GmbH","size":"COMPANY_SIZE_100_249","industries":["MANUFACTURING"],"country_code":"DE","address":{"address_line1":"Hauptstr. 1","city":"Berlin","state":"Berlin","zip_code":"10115"}},"contact":{"first_name":"Erika","last_name":"Muster","work_email":"it@cluster-test.example","phone":"+49 30 1234567"},"management_type":"FULLY_MANAGED"}}' \
  "$customer_target" msp.customer.v1.CustomerService/CreateCustomer >/dev/null ||
  fail "CreateCustomer"
a0="$(handled 172.29.7.21)"; b0="$(handled 172.29.7.22)"
[ $((a0 + b0)) -eq 1 ] || fail "the create was not answered OK once ($a0 + $b0)"
"$BUILD/tools/loadgen/loadgen" --target create --addr "$customer_target" --token "$token" \
  --msp cluster-test --concurrency 4 --duration_s 1 --warmup_s 0 >/dev/null
a="$(handled 172.29.7.21)"; b="$(handled 172.29.7.22)"
echo "CreateCustomer answered OK: replica 1 $((a - a0)), replica 2 $((b - b0))"
[ $((a - a0)) -ge 5 ] && [ $((b - b0)) -ge 5 ] || fail "the creates did not spread"

"$CLUSTER" soak --seconds 8 --converge_seconds 60 \
  --scenarios kill-customer-replica,sigterm-customer-replica | tee "$MSP_CLUSTER_DIR.soak.log"
grep -q "^soak: every acknowledged write kept" "$MSP_CLUSTER_DIR.soak.log" || fail "soak"

"$CLUSTER" restart customer
"$CLUSTER" bench --duration 2 --rounds 1 --seed 100 | tee "$MSP_CLUSTER_DIR.bench.log"
for m in GetCustomer CreateCustomer; do
  grep -Eq "^  $m +2 replicas / 1, same callers +qps [0-9.]+ +customer CPU/call [0-9.]+" \
    "$MSP_CLUSTER_DIR.bench.log" || fail "bench printed no $m ratios"
done
"$CLUSTER" down
docker_cli() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else docker "$@"; fi; }
[ -z "$(docker_cli ps -aq --filter label=msp.cluster=msptest)" ] || fail "containers left after down"
echo "PASS in $((SECONDS - start)) s"
