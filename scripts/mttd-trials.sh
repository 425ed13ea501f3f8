#!/usr/bin/env bash
# The MTTD-distribution protocol (issue 18), with figures:
#  1. `scenarios/service-down.yml --trials T` run PAIRS+1 times on a healthy
#     stack: per run, its wall time and ServiceDown's MTTD min / p50 / p95 /
#     max at PagerDuty and at Slack beside the configuration's floor and
#     ceiling, and how many values the self-check flagged;
#  2. each clean run compared with the one before (`report --baseline`):
#     none should be a regression;
#  3. the same stack with ServiceDown's `for` raised from 1m to 2m, run the
#     same way and compared with the first clean run: a regression.
#
# Usage: scripts/mttd-trials.sh [trials] [pairs]   (defaults 10 and 3;
#        about 7½ minutes per 10-trial run)
# Exits 1 if a clean pair regressed or the slower stack did not.
set -uo pipefail
cd "$(dirname "$0")/.."
trials=${1:-10}
pairs=${2:-3}
cargo build --release --quiet || exit 3
bin=$PWD/target/release/zeta-bench
out=$(mktemp -d /tmp/zeta-mttd-trials.XXXXXX)
trap 'rm -rf "$out"' EXIT

# The slower stack: a copy of stack/ with ServiceDown's `for: 1m` → `2m`.
cp -r stack "$out/stack-for2m"
python3 - "$out/stack-for2m/prometheus/alert-rules.yml" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
i = s.index("alert: ServiceDown")
j = s.index("for: 1m", i)
open(p, "w").write(s[:j] + "for: 2m" + s[j + len("for: 1m"):])
PY
sed -e "s|dir: ../stack|dir: $out/stack-for2m|" -e "s|slo: ../slo/|slo: $PWD/slo/|" \
  scenarios/service-down.yml >"$out/service-down-for2m.yml"

summary() { # result.json → one line of figures
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["trials"][0] if r.get("trials") else None
if not a:
    print(f"{r['verdict']} (no trials in the result)"); sys.exit()
cells = []
for s in a["series"]:
    if s["destination"] is None or not s["mttd"]:
        continue
    d = s["destination"]; d = d if isinstance(d, str) else json.dumps(d)
    m = s["mttd"]
    cells.append(f"{d[:12]} {m['min_s']:.0f}/{m['p50_s']:.0f}/{m['p95_s']:.0f}/{m['max_s']:.0f}s")
print(f"{r['verdict']:<5} band {a['floor_real_s']:.0f}–{a['ceiling_real_s']:.0f}s  "
      f"{len(a['counted'])}/{a['trials']} counted  self-check {len(a['self_check'])}  " + "  ".join(cells))
PY
}

run() { # name scenario → result.json path on stdout, a figures line on stderr
  local name=$1 scenario=$2 start=$SECONDS
  "$bin" run "$scenario" --trials "$trials" --out "$out/$name" >"$out/$name.log" 2>&1
  local rc=$? result
  result=$(ls "$out/$name"/*/result.json 2>/dev/null | head -1)
  if [ -n "$result" ]; then
    printf '%-8s exit %s  %4ss wall  %s\n' "$name" "$rc" $((SECONDS - start)) "$(summary "$result")" >&2
  else
    printf '%-8s exit %s  no result.json: %s\n' "$name" "$rc" "$(tail -2 "$out/$name.log")" >&2
  fi
  echo "$result"
}

baseline() { # new old → the baseline row of `report --baseline`
  "$bin" report "$1" --baseline "$2" 2>&1 |
    awk '/^  baseline /{on=1; print; next} on && /^      /{print; next} {on=0}'
}

failed=0
echo "service-down, $trials trials per run (MTTD min/p50/p95/max, real-time seconds)"
clean=()
for i in $(seq 0 "$pairs"); do
  clean+=("$(run "clean$i" scenarios/service-down.yml)")
done
echo
for i in $(seq 1 "$pairs"); do
  row=$(baseline "${clean[$i]}" "${clean[$((i - 1))]}")
  echo "clean$i vs clean$((i - 1)):"; echo "$row"
  grep -q 'baseline *PASS' <<<"$row" || failed=1
done
echo
slow=$(run "for2m" "$out/service-down-for2m.yml")
row=$(baseline "$slow" "${clean[0]}")
echo "for2m vs clean0:"; echo "$row"
grep -q 'baseline *FAIL' <<<"$row" || failed=1
exit $failed
