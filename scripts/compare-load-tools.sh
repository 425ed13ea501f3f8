#!/usr/bin/env bash
# zeta-bench's load engine side by side with wrk and oha, against the same
# local target (examples/stall-server.rs), on a machine of any size:
#
#   1. maximum throughput: 64 connections, 10 s each, against a target that
#      never stalls (zeta-bench is open-model: it is asked for far more
#      than the target can take, with at most 64 requests in flight, and
#      what it achieves is its maximum);
#   2. throughput over https:// beside http://: the same 64 connections
#      against the same server speaking TLS (rustls, a CA it makes);
#   3. correctness under stalls: 200 requests/s for 30 s against a target
#      that stalls 1 s in every 5 s. The true latency from the intended
#      send time has p95 ≈ 0.75 s and p99 ≈ 0.95 s; a tool reporting far
#      less hides the stalls (coordinated omission).
#
# The target runs on CPU 0 and the tool on CPU 1 (taskset), so they do not
# fight for a core. Needs wrk (apt-get install wrk) and oha
# (cargo install oha); a missing tool is skipped with the command that
# installs it. Usage: scripts/compare-load-tools.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${1:-10}
STALL_DUR=30
FAST_PORT=18081
STALL_PORT=18082
TLS_PORT=18083
TLS_DIR=$(mktemp -d)
cargo build --release --quiet --bin zeta-bench --example stall-server
ZB=target/release/zeta-bench
SRV=target/release/examples/stall-server

pin_srv=() pin_tool=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_srv=(taskset -c 0) pin_tool=(taskset -c 1)
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TLS_DIR"; }
trap cleanup EXIT INT TERM

"${pin_srv[@]}" "$SRV" --port "$FAST_PORT" --every 0 2>/dev/null & pids+=($!)
"${pin_srv[@]}" "$SRV" --port "$STALL_PORT" --every 5s --stall 1s 2>/dev/null & pids+=($!)
"${pin_srv[@]}" "$SRV" --port "$TLS_PORT" --tls-dir "$TLS_DIR" 2>/dev/null & pids+=($!)
for _ in $(seq 1 50); do [ -s "$TLS_DIR/ca.pem" ] && curl -s --cacert "$TLS_DIR/ca.pem" "https://127.0.0.1:$TLS_PORT/" >/dev/null && break; sleep 0.1; done
for port in "$FAST_PORT" "$STALL_PORT"; do
  for _ in $(seq 1 50); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
done
FAST="http://127.0.0.1:$FAST_PORT/"
STALL="http://127.0.0.1:$STALL_PORT/"

have() { command -v "$1" >/dev/null || [ -x "$HOME/.cargo/bin/$1" ]; }
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

declare -A tput p95 p99
echo "== maximum throughput: 64 connections, ${DUR}s, target never stalls"
if have wrk; then
  tput[wrk]=$("${pin_tool[@]}" wrk -t1 -c64 -d"${DUR}s" "$FAST" | awk '/Requests\/sec/ {print $2}')
else
  echo "wrk: not installed (apt-get install wrk); skipped"
fi
if have oha; then
  tput[oha]=$("${pin_tool[@]}" "$OHA" -z "${DUR}s" -c 64 --no-tui --output-format json "$FAST" | json 'd["summary"]["requestsPerSec"]')
else
  echo "oha: not installed (cargo install oha); skipped"
fi
tput[zeta-bench]=$("${pin_tool[@]}" "$ZB" load --target "$FAST" --rate 400000/s --duration "${DUR}s" \
  --max-in-flight 64 --json | json "d['total_sent'] / $DUR")
printf '%-12s %14s %12s\n' tool 'requests/s' 'zb / tool'
for t in wrk oha zeta-bench; do
  [ -n "${tput[$t]:-}" ] || continue
  printf '%-12s %14.0f %12.2f\n' "$t" "${tput[$t]}" "$(python3 -c "print(${tput[zeta-bench]} / ${tput[$t]})")"
done

echo
echo "== throughput over https:// beside http://: 64 connections, ${DUR}s"
HTTPS="https://127.0.0.1:$TLS_PORT/"
declare -A stput
stput[zeta-bench]=$("${pin_tool[@]}" "$ZB" load --target "$HTTPS" --ca-cert "$TLS_DIR/ca.pem" --rate 400000/s \
  --duration "${DUR}s" --max-in-flight 64 --json | json "d['total_sent'] / $DUR")
if have oha; then
  stput[oha]=$("${pin_tool[@]}" "$OHA" -z "${DUR}s" -c 64 --no-tui --insecure --output-format json "$HTTPS" | json 'd["summary"]["requestsPerSec"]')
fi
if have wrk; then
  stput[wrk]=$("${pin_tool[@]}" wrk -t1 -c64 -d"${DUR}s" "$HTTPS" | awk '/Requests\/sec/ {print $2}')
fi
printf '%-12s %14s %14s %12s\n' tool 'http req/s' 'https req/s' 'https/http'
for t in wrk oha zeta-bench; do
  [ -n "${stput[$t]:-}" ] && [ -n "${tput[$t]:-}" ] || continue
  printf '%-12s %14.0f %14.0f %12.2f\n' "$t" "${tput[$t]}" "${stput[$t]}" "$(python3 -c "print(${stput[$t]} / ${tput[$t]})")"
done

echo
echo "== 200 requests/s for ${STALL_DUR}s; the target stalls 1 s every 5 s (true p95 ≈ 750 ms, p99 ≈ 950 ms)"
# One run gives both: from the intended send time (the default, what a
# user saw) and from the actual send time (what an uncorrected tool shows).
read -r p95[zeta-bench] p99[zeta-bench] p95[zeta-bench-from-actual-send] p99[zeta-bench-from-actual-send] \
  < <("${pin_tool[@]}" "$ZB" load --target "$STALL" --rate 200/s --duration "${STALL_DUR}s" --json \
  | json "'%.1f %f %.1f %f' % (d['endpoints'][0]['latency']['p95_ms'], d['endpoints'][0]['latency']['p99_ms'], d['endpoints'][0]['latency_uncorrected']['p95_ms'], d['endpoints'][0]['latency_uncorrected']['p99_ms'])")
# oha and wrk get 4 connections: with as many connections as requests in
# a stall (200), any tool keeps sending through it; with few, a tool that
# waits for a free connection delays sending, and only correction shows it.
if have oha; then
  read -r p95[oha] p99[oha] < <("${pin_tool[@]}" "$OHA" -q 200 -z "${STALL_DUR}s" -c 4 --no-tui --output-format json "$STALL" \
    | json "'%.1f %f' % (d['latencyPercentiles']['p95'] * 1000, d['latencyPercentiles']['p99'] * 1000)")
  read -r p95[oha-corrected] p99[oha-corrected] < <("${pin_tool[@]}" "$OHA" -q 200 -z "${STALL_DUR}s" -c 4 --latency-correction \
    --no-tui --output-format json "$STALL" \
    | json "'%.1f %f' % (d['latencyPercentiles']['p95'] * 1000, d['latencyPercentiles']['p99'] * 1000)")
fi
if have wrk; then
  # wrk has no fixed rate (closed loop, 4 connections): shown for reference.
  read -r p99[wrk-closed-loop] < <("${pin_tool[@]}" wrk -t1 -c4 -d"${STALL_DUR}s" --latency "$STALL" \
    | awk '$1=="99%" { v=$2; if (v ~ /ms$/) { sub(/ms/,"",v); print v } else if (v ~ /us$/) { sub(/us/,"",v); print v/1000 } else { sub(/s/,"",v); print v*1000 } }')
  p95[wrk-closed-loop]=n/a
fi
printf '%-24s %12s %12s %16s\n' tool 'p95 ms' 'p99 ms' 'p99 / true 950'
for t in zeta-bench zeta-bench-from-actual-send oha oha-corrected wrk-closed-loop; do
  [ -n "${p99[$t]:-}" ] || continue
  printf '%-24s %12s %12.1f %16.2f\n' "$t" "${p95[$t]}" "${p99[$t]}" "$(python3 -c "print(${p99[$t]} / 950)")"
done
