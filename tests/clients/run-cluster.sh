#!/usr/bin/env bash
# Starts the 3-node loopback cluster of scripts/cluster (release build), runs the shared
# conformance kit against all three nodes (KAFKA_BOOTSTRAP lists them), stops and removes it.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin="$root/target/release/troupe"
[ -x "$bin" ] || { echo "build first: cargo build --release"; exit 2; }
kit="$root/../shared/conformance"
[ -d "$kit" ] || { echo "shared/conformance not found beside the project: cluster conformance skipped"; exit 0; }
TROUPE_BIN="$bin" scripts/cluster clean >/dev/null
# On failure the node logs are kept in ./data/failed-cluster-logs for a look afterwards.
keep_logs_and_clean() {
  local status=$?
  if [ $status -ne 0 ]; then
    rm -rf ./data/failed-cluster-logs && mkdir -p ./data/failed-cluster-logs
    cp ./data/cluster-*.log ./data/failed-cluster-logs/ 2>/dev/null
    echo "node logs kept in ./data/failed-cluster-logs"
  fi
  TROUPE_BIN="$bin" scripts/cluster clean >/dev/null
  exit $status
}
trap keep_logs_and_clean EXIT
TROUPE_BIN="$bin" scripts/cluster || { tail -n 60 ./data/cluster-*.log; exit 1; }
export KAFKA_BOOTSTRAP=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
status=0
python3 -m pytest -q -p no:cacheprovider "$kit" \
  -m "${CONFORMANCE_MARKERS:-basic or admin or badinput or groups or idempotence or transactions}" || status=1
for i in 1 2 3; do
  if ! curl -sf "http://127.0.0.1:$((19643 + i))/healthz" >/dev/null; then
    echo "node $i died during the conformance run:"; tail -n 50 "./data/cluster-$i.log"; status=1
  fi
done
exit $status
