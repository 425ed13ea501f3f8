#!/usr/bin/env bash
# Long runs in bounded memory: the smoke stack (scenarios/smoke.yml's
# tenants, mix and SLOs, no fault) for MINUTES real minutes at K=1, RATE
# requests/s after a two-minute warm-up at a tenth of it.
#
# Every minute it samples, from outside the harness:
#   - the harness's (`zeta-bench run`: load engine and watchers) RSS and
#     open files, from /proc;
#   - the two mocks' RSS (they are the stack's, not the harness's, but a
#     leak there would end a long game day too);
#   - the run directory's size and its largest file (the services' request
#     logs grow with the load: they must be rotated or capped).
# From the run's result.json it takes how late the alert watch's polls
# came, minute by minute (`alert_poll_lateness`).
#
# Pass, after a ten-minute warm-up: RSS and open files flat (a least-squares
# slope under 1 % of their mean per 10 minutes), the largest file within
# the mocks' log cap, every poll within one poll interval of its due time.
# Prints a table and the three verdicts; writes soak.csv and soak.svg (RSS,
# open files and run-directory size over time) to OUT.
#
# Usage: scripts/soak.sh [MINUTES] [RATE] [OUT]   (defaults: 60 1000 target/soak)
# Exit: 0 flat, 1 something grew, 3 could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-60}
RATE=${2:-1000}
OUT=${3:-target/soak}
[ "$MINUTES" -ge 12 ] || { echo "soak.sh: at least 12 minutes (10 of warm-up, then a slope)" >&2; exit 3; }
cargo build --release --quiet --bin zeta-bench
bin=$PWD/target/release/zeta-bench
rm -rf "$OUT"
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
warm=$((RATE / 10 > 0 ? RATE / 10 : 1))
cat > "$OUT/soak.yml" <<EOF
name: soak
description: scripts/soak.sh — the smoke stack, ${MINUTES} real minutes at ${RATE} req/s, no fault.
stack:
  dir: $PWD/stack
  provider: native
  time_scale: 1
slo: $PWD/slo/phase1.yml
tenants: { count: 50, distribution: zipf, skew: 1.1, seed: 7, users: 20 }
load:
  phases:
    - { name: warmup, duration: 2m, rate: ${warm}/s }
    - { name: steady, duration: $((MINUTES - 2))m, rate: ${RATE}/s, arrivals: poisson }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}&k=10", weight: 700 }
    - { request: "POST /api/v1/events", body: '{"user_id":"{user}","item_id":"{item}"}', weight: 299 }
    - { request: "POST /api/v1/train", weight: 1 }
expect:
  alerts: []
  unexpected_alerts: fail
EOF

"$bin" run "$OUT/soak.yml" --out "$OUT/runs" > "$OUT/run.log" 2>&1 &
harness=$!
trap 'kill -INT $harness 2>/dev/null || true; wait $harness 2>/dev/null || true' INT TERM
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mocks_kb() {
  local total=0 p
  for p in $(pgrep -f "zeta-bench mock" || true); do total=$((total + $(rss_kb "$p"))); done
  echo "$total"
}
echo "minute,harness_rss_kb,open_files,mocks_rss_kb,run_dir_bytes,largest_file_bytes,largest_file" > "$OUT/soak.csv"
start=$(date +%s)
minute=0
while kill -0 "$harness" 2>/dev/null; do
  sleep $(( start + 60 * (minute + 1) - $(date +%s) > 0 ? start + 60 * (minute + 1) - $(date +%s) : 1 ))
  kill -0 "$harness" 2>/dev/null || break
  minute=$((minute + 1))
  run=$(find "$OUT/runs" -mindepth 1 -maxdepth 1 -type d | head -1)
  size=0 largest="0 -"
  if [ -n "$run" ]; then
    size=$(du -sb "$run" | cut -f1)
    largest=$(find "$run" -type f -printf '%s %P\n' | sort -n | tail -1)
  fi
  fds=$(ls "/proc/$harness/fd" 2>/dev/null | wc -l)
  echo "$minute,$(rss_kb "$harness"),$fds,$(mocks_kb),$size,${largest%% *},${largest#* }" >> "$OUT/soak.csv"
  echo "soak: minute $minute of $MINUTES: harness RSS $(( $(rss_kb "$harness") / 1024 )) MB, $fds open files, run directory $((size / 1048576)) MB"
done
set +e
wait "$harness"
rc=$?
set -e
result=$(find "$OUT/runs" -name result.json | head -1)
echo "soak: the run exited $rc ($(tail -1 "$OUT/run.log"))"
[ -n "$result" ] || { echo "soak.sh: the run wrote no result.json (see $OUT/run.log)" >&2; exit 3; }
python3 - "$OUT" "$result" <<'PY'
import csv, json, sys
out, result = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{out}/soak.csv")))
r = json.load(open(result))
every_ms = r["alert_poll_interval_s"] * 1000
late = {m["minute"] + 1: m for m in r.get("alert_poll_lateness", [])}

print(f"{'min':>4} {'harness MB':>11} {'open files':>10} {'mocks MB':>9} {'run dir MB':>10} {'largest file MB':>16} {'polls':>6} {'max late ms':>11}")
for row in rows:
    m = int(row["minute"]); l = late.get(m, {})
    print(f"{m:>4} {int(row['harness_rss_kb'])/1024:>11.1f} {row['open_files']:>10} {int(row['mocks_rss_kb'])/1024:>9.1f} "
          f"{int(row['run_dir_bytes'])/2**20:>10.1f} {int(row['largest_file_bytes'])/2**20:>16.1f} "
          f"{l.get('polls', '-'):>6} {l.get('max_late_ms', float('nan')):>11.1f}")

def slope_pct_per_10min(key):
    pts = [(int(x["minute"]), float(x[key])) for x in rows if int(x["minute"]) >= 10]
    if len(pts) < 2:
        return float("nan")
    n = len(pts); mx = sum(p[0] for p in pts) / n; my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else 0.0
    return 100.0 * b * 10 / my if my else 0.0

ok = True
for key, what in (("harness_rss_kb", "harness RSS"), ("open_files", "harness open files"), ("mocks_rss_kb", "mocks' RSS")):
    s = slope_pct_per_10min(key)
    flat = s < 1.0
    ok &= flat or key == "mocks_rss_kb"
    print(f"{what}: slope after minute 10 {s:+.2f} % of its mean per 10 minutes: {'flat' if flat else 'GROWING'}"
          + ("" if key != "mocks_rss_kb" else " (the stack's, shown, not judged)"))
cap = 256 * 2**20
largest = max(int(x["largest_file_bytes"]) for x in rows) if rows else 0
capped = largest <= cap
ok &= capped
print(f"largest file in the run directory: {largest/2**20:.1f} MB (mocks' log cap {cap/2**20:.0f} MB): {'capped' if capped else 'NOT CAPPED'}")
worst = max(late.values(), key=lambda m: m["max_late_ms"], default=None)
if worst is None:
    print("alert watch polls: none recorded"); ok = False
else:
    on_time = worst["max_late_ms"] <= every_ms
    ok &= on_time
    print(f"alert watch polls: {sum(m['polls'] for m in late.values())} polls, worst {worst['max_late_ms']:.1f} ms late "
          f"(wall minute {worst['minute']}), poll interval {every_ms:.0f} ms: {'on time' if on_time else 'LATE'}")

# A small SVG: three normalised series over the minutes.
W, H, P = 640, 240, 40
series = [("harness RSS", "harness_rss_kb", "#1f77b4"), ("open files", "open_files", "#2ca02c"), ("run dir", "run_dir_bytes", "#d62728")]
xs = [int(x["minute"]) for x in rows] or [0]
def pt(i, v, top):
    x = P + (W - 2 * P) * (xs[i] - xs[0]) / max(1, xs[-1] - xs[0])
    y = H - P - (H - 2 * P) * (v / top if top else 0)
    return f"{x:.1f},{y:.1f}"
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<line x1="{P}" y1="{H-P}" x2="{W-P}" y2="{H-P}" stroke="#888"/><line x1="{P}" y1="{P}" x2="{P}" y2="{H-P}" stroke="#888"/>',
       f'<text x="{W/2}" y="{H-8}" text-anchor="middle">minute of the soak</text>',
       f'<text x="{P}" y="{P-24}">each series as a share of its own maximum</text>']
for k, (label, key, colour) in enumerate(series):
    vals = [float(x[key]) for x in rows]
    top = max(vals, default=0)
    if vals:
        svg.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(pt(i, v, top) for i, v in enumerate(vals))}"/>')
    unit = {"harness_rss_kb": f"max {top/1024:.0f} MB", "open_files": f"max {top:.0f}", "run_dir_bytes": f"max {top/2**20:.0f} MB"}[key]
    svg.append(f'<text x="{P + 200 * k}" y="{P-8}" fill="{colour}">{label} ({unit})</text>')
svg.append("</svg>")
open(f"{out}/soak.svg", "w").write("\n".join(svg))
print(f"wrote {out}/soak.csv and {out}/soak.svg")
sys.exit(0 if ok else 1)
PY
