#!/usr/bin/env bash
# zeta-bench's load engine side by side with wrk and oha, against the same
# local target (examples/stall-server.rs), on a machine of any size:
#
#   1. maximum throughput: 64 connections, ROUNDS alternating rounds of
#      SECONDS each (the order of the tools rotates every round, so none
#      always runs on a warmer or cooler machine). zeta-bench is
#      open-model: it is asked for far more than the target can take, with
#      at most 64 requests in flight, and what it achieves is its maximum.
#      Prints every round, then the median ratio zeta-bench / tool and its
#      spread (min–max over the rounds' ratios): one round on a noisy
#      machine says little, the median of seven says more;
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
# installs it. Usage: scripts/compare-load-tools.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${1:-10}
ROUNDS=${2:-7}
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
rounds_file=$(mktemp)
run_tool() { # tool → requests/s over DUR seconds against $FAST
  case "$1" in
    wrk) "${pin_tool[@]}" wrk -t1 -c64 -d"${DUR}s" "$FAST" | awk '/Requests\/sec/ {print $2}' ;;
    oha) "${pin_tool[@]}" "$OHA" -z "${DUR}s" -c 64 --no-tui --output-format json "$FAST" | json 'd["summary"]["requestsPerSec"]' ;;
    zeta-bench) "${pin_tool[@]}" "$ZB" load --target "$FAST" --rate 200000/s --duration "${DUR}s" \
      --max-in-flight 64 --json | json "d['total_sent'] / $DUR" ;;
  esac
}
tools=()
have wrk && tools+=(wrk) || echo "wrk: not installed (apt-get install wrk); skipped"
have oha && tools+=(oha) || echo "oha: not installed (cargo install oha); skipped"
tools+=(zeta-bench)
echo "== maximum throughput: 64 connections, $ROUNDS rounds of ${DUR}s, target never stalls"
printf '%-6s' round; for t in "${tools[@]}"; do printf '%14s' "$t"; done
for t in "${tools[@]}"; do [ "$t" = zeta-bench ] || printf '%12s' "zb/$t"; done; echo
for r in $(seq 1 "$ROUNDS"); do
  declare -A got=()
  n=${#tools[@]}
  for i in $(seq 0 $((n - 1))); do # rotate the order every round
    t=${tools[$(( (i + r) % n ))]}
    got[$t]=$(run_tool "$t")
  done
  printf '%-6s' "$r"; for t in "${tools[@]}"; do printf '%14.0f' "${got[$t]}"; done
  for t in "${tools[@]}"; do
    [ "$t" = zeta-bench ] && continue
    ratio=$(python3 -c "print(${got[zeta-bench]} / ${got[$t]})")
    printf '%12.2f' "$ratio"
    echo "$t $ratio ${got[$t]} ${got[zeta-bench]}" >> "$rounds_file"
  done
  echo
  for t in "${tools[@]}"; do tput[$t]=${got[$t]}; done
done
python3 - "$rounds_file" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    tool, ratio, theirs, ours = line.split()
    by.setdefault(tool, []).append((float(ratio), float(theirs), float(ours)))
for tool, rows in by.items():
    ratios = sorted(r for r, _, _ in rows)
    print(f"zeta-bench / {tool}: median {statistics.median(ratios):.2f} over {len(ratios)} rounds, "
          f"spread {ratios[0]:.2f}–{ratios[-1]:.2f}; "
          f"{tool} median {statistics.median(t for _, t, _ in rows):,.0f} req/s, "
          f"zeta-bench median {statistics.median(o for _, _, o in rows):,.0f} req/s")
PY
rm -f "$rounds_file"

echo
echo "== throughput over https:// beside http://: 64 connections, ${DUR}s"
HTTPS="https://127.0.0.1:$TLS_PORT/"
declare -A stput
stput[zeta-bench]=$("${pin_tool[@]}" "$ZB" load --target "$HTTPS" --ca-cert "$TLS_DIR/ca.pem" --rate 200000/s \
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
