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
trap 'TROUPE_BIN="$bin" scripts/cluster clean >/dev/null' EXIT
TROUPE_BIN="$bin" scripts/cluster || { tail -40 ./data/cluster-*.log; exit 1; }
export KAFKA_BOOTSTRAP=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
status=0
python3 -m pytest -q -p no:cacheprovider "$kit" \
  -m "${CONFORMANCE_MARKERS:-basic or admin or badinput or groups or idempotence or transactions}" || status=1
for i in 1 2 3; do
  if ! curl -sf "http://127.0.0.1:$((19643 + i))/healthz" >/dev/null; then
    echo "node $i died during the conformance run:"; tail -50 "./data/cluster-$i.log"; status=1
  fi
done
exit $status
