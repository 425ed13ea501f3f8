#!/usr/bin/env bash
# The no-false-alarm protocol (issue 15): the shipped scenarios must pass
# on a healthy stack every time, also while another run shares the
# machine. Runs scenarios/smoke.yml and scenarios/service-down.yml N times
# each (default 3), each round with both at once (two full stacks on this
# machine), and prints one line per run: verdict, exit code, every SLO's
# status, and the failing details of a run that did not pass.
#
# Usage: scripts/false-alarms.sh [rounds]     (about 2 minutes a round)
# Exits 1 if any run did not pass.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
cargo build --release --quiet || exit 3
bin=$PWD/target/release/zeta-bench
out=$(mktemp -d /tmp/zeta-false-alarms.XXXXXX)
trap 'rm -rf "$out"' EXIT

summary() { # result.json → "verdict  slo=status …"
  python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
slos = " ".join(f"{s['name']}={s['status']}" for s in r["slos"])
print(f"{r['verdict']:<10} {slos}")
if r["verdict"] != "pass":
    for s in r["slos"]:
        if s["status"] == "fail" or (s["required"] and s["status"] == "not_measured"):
            for d in s["details"][:3]:
                print(f"    {s['name']}: {d}")
    for n in r["notes"]:
        if n.startswith("INCOMPLETE"):
            print(f"    {n.splitlines()[0]}")
EOF
}

failed=0
printf '%-6s %-14s %-5s %s\n' round scenario exit "verdict / SLOs"
for round in $(seq "$rounds"); do
  pids=()
  for s in smoke service-down; do
    ( "$bin" run "scenarios/$s.yml" --out "$out/$round-$s" >"$out/$round-$s.log" 2>&1
      echo $? >"$out/$round-$s.rc" ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  for s in smoke service-down; do
    rc=$(cat "$out/$round-$s.rc")
    result=$(ls "$out/$round-$s"/*/result.json 2>/dev/null | head -1)
    if [ -n "$result" ]; then line=$(summary "$result"); else line="no result.json: $(tail -3 "$out/$round-$s.log")"; fi
    printf '%-6s %-14s %-5s %s\n' "$round" "$s" "$rc" "$line"
    [ "$rc" = 0 ] || failed=1
  done
done
exit $failed
