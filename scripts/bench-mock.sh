#!/usr/bin/env bash
# The mock services' speed, as a ratio to reference servers on the same
# core, so the figure means the same on any machine ("a mock must never be
# the bottleneck of a run").
#
# Everything served runs pinned to core 0; the load runs on core 1.
#
#   1. Maximum throughput, ROUNDS alternating rounds of SECONDS each (the
#      order rotates every round), wrk with 1 thread and 64 connections:
#        - hyper: examples/stall-server.rs --every 0, a minimal hyper
#          server answering "200 ok" (the mocks' own HTTP stack, doing no
#          work: the ceiling for any axum service on this core);
#        - nginx: a static file holding a real recommendation answer, so
#          the bytes on the wire match (if nginx is installed:
#          apt-get install nginx-light);
#        - mock: GET /api/v1/recommendations, warm cache (one user: the
#          answer comes from backend-api's cache, with the mock's metrics,
#          trace sampling and JSON log line on every request);
#        - mock /health.
#      Prints every round, then each median ratio mock / reference and its
#      spread (min–max over the rounds).
#   2. The mostly-cold maximum: zeta-bench load asked for far more than
#      the mocks can take, 100,000 users per tenant, so nearly every
#      request misses backend-api's cache and goes on to ml-engine (a
#      second HTTP hop and a 1,000 × 32 vector scan, on the same core).
#   3. The service target: 5000 requests/s for 20 s with p99 under 5 ms
#      (from each request's intended send time), warm and mostly cold.
#
# Needs wrk (apt-get install wrk). Usage: scripts/bench-mock.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-8}
command -v wrk >/dev/null || { echo "bench-mock.sh: wrk is not installed (apt-get install wrk)" >&2; exit 3; }
cargo build --release --quiet --bin zeta-bench --example stall-server
bin=target/release/zeta-bench
ml_port=18101 be_port=18100 hyper_port=18102 nginx_port=18103
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
wait_up() { for _ in $(seq 50); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "bench-mock.sh: $1 did not answer in 5 s" >&2; exit 3; }

taskset -c 0 "$bin" mock ml-engine --listen 127.0.0.1:$ml_port --quiet >/dev/null 2>&1 & pids+=($!)
taskset -c 0 "$bin" mock backend-api --listen 127.0.0.1:$be_port --ml-engine http://127.0.0.1:$ml_port --quiet >/dev/null 2>&1 & pids+=($!)
taskset -c 0 target/release/examples/stall-server --port $hyper_port --every 0 >/dev/null 2>&1 & pids+=($!)
rec="http://127.0.0.1:$be_port/api/v1/recommendations?user_id=user_1&k=10"
wait_up "http://127.0.0.1:$be_port/health"
wait_up "http://127.0.0.1:$hyper_port/"

declare -A url
url[hyper]="http://127.0.0.1:$hyper_port/"
url[mock]="$rec"
url[mock-health]="http://127.0.0.1:$be_port/health"
targets=(hyper mock mock-health)
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ -x "$nginx_bin" ]; then
  mkdir -p "$work/www"
  curl -sf -H "X-Tenant-ID: tenant_001" "$rec" > "$work/www/rec.json"
  # nginx's workers run as an unprivileged user: let them read the file.
  chmod 755 "$work" "$work/www" && chmod 644 "$work/www/rec.json"
  cat > "$work/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  server { listen 127.0.0.1:$nginx_port; root $work/www; }
}
EOF
  if taskset -c 0 "$nginx_bin" -c "$work/nginx.conf" -p "$work" 2>"$work/nginx.err"; then
    wait_up "http://127.0.0.1:$nginx_port/rec.json"
    url[nginx]="http://127.0.0.1:$nginx_port/rec.json"
    targets=(hyper nginx mock mock-health)
  else
    echo "nginx: did not start ($(tail -1 "$work/nginx.err")); its column is skipped"
  fi
else
  echo "nginx: not installed (apt-get install nginx-light); its column is skipped"
fi

echo "== maximum throughput on one core: wrk -t1 -c64, $ROUNDS rounds of ${SECS}s, requests/s"
printf '%-6s' round; for t in "${targets[@]}"; do printf '%13s' "$t"; done; echo
rows=$work/rows
n=${#targets[@]}
for r in $(seq 1 "$ROUNDS"); do
  declare -A got=()
  for i in $(seq 0 $((n - 1))); do
    t=${targets[$(( (i + r) % n ))]}
    got[$t]=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" -H "X-Tenant-ID: tenant_001" "${url[$t]}" | awk '/Requests\/sec/ {print $2}')
    if [ -z "${got[$t]}" ] || ! curl -sf -o /dev/null -H "X-Tenant-ID: tenant_001" "${url[$t]}"; then
      echo "bench-mock.sh: $t (${url[$t]}) stopped answering in round $r" >&2
      exit 3
    fi
  done
  printf '%-6s' "$r"; for t in "${targets[@]}"; do printf '%13.0f' "${got[$t]}"; done; echo
  line=""; for t in "${targets[@]}"; do line+="$t=${got[$t]} "; done; echo "$line" >> "$rows"
done
python3 - "$rows" <<'PY'
import statistics, sys
rounds = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1])]
rounds = [{k: float(v) for k, v in r.items()} for r in rounds]
for ref in ("hyper", "nginx"):
    if ref not in rounds[0]:
        continue
    for mock in ("mock", "mock-health"):
        ratios = sorted(r[mock] / r[ref] for r in rounds)
        print(f"{mock} / {ref}: median {statistics.median(ratios):.2f} over {len(ratios)} rounds, "
              f"spread {ratios[0]:.2f}–{ratios[-1]:.2f}")
for t in rounds[0]:
    print(f"  {t}: median {statistics.median(r[t] for r in rounds):,.0f} requests/s")
PY

req="GET /api/v1/recommendations?user_id={user}&k=10"
echo
echo "== mostly cold maximum: 100,000 users per tenant, at most 64 in flight, ${SECS}s"
taskset -c 1 "$bin" load --target http://127.0.0.1:$be_port --rate 200000/s --duration "${SECS}s" --max-in-flight 64 \
  --users 100000 --request "$req" --json \
  | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['total_sent'] / $SECS:,.0f} requests/s (backend-api and ml-engine together on core 0)\")"
echo
echo "== 5000/s for 20 s, warm cache (20 users per tenant)"
taskset -c 1 "$bin" load --target http://127.0.0.1:$be_port --rate 5000/s --duration 20s --users 20 --request "$req"
echo
echo "== 5000/s for 20 s, Poisson arrivals, mostly cold (1000 users per tenant)"
taskset -c 1 "$bin" load --target http://127.0.0.1:$be_port --rate 5000/s --duration 20s --users 1000 --poisson --request "$req"
