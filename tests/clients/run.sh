#!/usr/bin/env bash
# Starts a fresh `troupe serve` (release build) on free loopback ports, runs the stock-client
# tests and the shared conformance kit's single-broker markers against it, stops it.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/target/release/troupe"
[ -x "$bin" ] || { echo "build first: cargo build --release"; exit 2; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
kp=$(port); hp=$(port); data=$(mktemp -d)
"$bin" serve --data-dir "$data" --listen "127.0.0.1:$kp" --http "127.0.0.1:$hp" >"$data.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$hp/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
export KAFKA_BOOTSTRAP=127.0.0.1:$kp
status=0
python3 -m pytest -q "$root/tests/clients" || status=1
kit="$root/../shared/conformance"
if [ -d "$kit" ]; then
  python3 -m pytest -q -p no:cacheprovider "$kit" -m "${CONFORMANCE_MARKERS:-basic or admin or badinput or groups or idempotence or transactions}" || status=1
else
  echo "shared/conformance not found beside the project: conformance kit skipped"
fi
if ! kill -0 $pid 2>/dev/null; then echo "troupe died during the client tests:"; tail -50 "$data.log"; status=1; fi
exit $status
