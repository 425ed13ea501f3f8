#!/usr/bin/env bash
# How `zeta-bench validate` scales with a stack the size of a real team's
# (issue 30): it generates stacks of N alert and recording rules (a third
# recording rules, alerts reading them, the seed's rules kept) and M
# dashboards (copies of the shipped four, new uids), and prints, per size,
# validate's wall time, peak memory and exit code, with the growth exponent
# of the time between sizes (1.0 = linear). A refusal (exit 2) of an honest
# stack is a bug and makes this script exit 1; so does validate on the
# largest size taking 3 s or more.
#
# Usage: scripts/scale.sh [N:M …]   (default 7:4 100:20 1000:100 10000:500,
#        plus 10000 rules spread over 100 files)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/zeta-bench
work=$(mktemp -d /tmp/zeta-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(7:4 100:20 1000:100 10000:500 10000:500:100)

generate() { # dir rules dashboards files
  python3 - "$@" <<'PY'
import json, os, shutil, sys
dir, n, m, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
shutil.copytree("stack", f"{dir}/stack")
shutil.copytree("slo", f"{dir}/slo")
os.makedirs(f"{dir}/scenarios")
smoke = open("scenarios/smoke.yml").read()
open(f"{dir}/scenarios/scale.yml", "w").write(smoke)
prom = f"{dir}/stack/prometheus"
extra = max(0, n - 10)  # the seed's rules count towards n
per = max(1, -(-extra // files)) if extra else 0
names = []
for f in range(files if extra else 0):
    lines = ["groups:"]
    for g in range(0, per, 50):
        lines.append(f"  - name: team-{f}-{g}\n    rules:")
        for i in range(f * per + g, min(f * per + g + 50, extra)):
            if i % 3 == 0:
                lines.append(f"      - record: job:http_requests:rate5m_{i}\n        expr: sum by (job, service) (rate(http_requests_total{{status=~\"5..\"}}[5m]))")
            else:
                rec = f"job:http_requests:rate5m_{i - i % 3}"
                lines.append(
                    f"      - alert: TeamAlert{i}\n        expr: {rec} > {i % 7 + 1}\n        for: {i % 10 + 1}m\n"
                    f"        labels: {{ severity: warning, team: t{i % 13} }}\n"
                    f"        annotations: {{ summary: \"{{{{ $labels.service }}}} alert {i}\", description: \"rule {i}\" }}")
    name = f"team-rules-{f}.yml"
    open(f"{prom}/{name}", "w").write("\n".join(lines) + "\n")
    names.append(name)
conf = open(f"{prom}/prometheus.yml").read()
conf = conf.replace("  - alert-rules.yml\n", "  - alert-rules.yml\n" + "".join(f"  - {x}\n" for x in names))
open(f"{prom}/prometheus.yml", "w").write(conf)
dash = f"{dir}/stack/grafana/dashboards"
shipped = sorted(os.listdir(dash))
for k in range(len(shipped), m):
    d = json.load(open(f"{dash}/{shipped[k % len(shipped)]}"))
    d["uid"] = f"scale-{k}"
    d["title"] = f"{d.get('title', 'dashboard')} {k}"
    json.dump(d, open(f"{dash}/scale-{k}.json", "w"))
PY
}

printf '%-8s %-11s %-6s %10s %10s %5s %9s\n' rules dashboards files "wall s" "peak MB" exit "growth"
status=0
prev_n="" prev_t=""
for s in "${sizes[@]}"; do
  IFS=: read -r n m files <<<"$s"
  files=${files:-1}
  d="$work/$n-$m-$files"
  mkdir -p "$d"
  generate "$d" "$n" "$m" "$files"
  set +e
  /usr/bin/time -f "%e %M" -o "$d/time" "$bin" validate "$d/scenarios/scale.yml" >"$d/out" 2>&1
  rc=$?
  set -e
  read -r wall kb < <(tail -1 "$d/time")
  growth="-"
  if [ -n "$prev_n" ] && [ "$prev_n" != "$n" ]; then
    growth=$(python3 -c "import math; print(f'{math.log(max($wall,0.01)/max($prev_t,0.01))/math.log($n/$prev_n):.2f}')")
  fi
  printf '%-8s %-11s %-6s %10s %10d %5s %9s\n' "$n" "$m" "$files" "$wall" $((kb / 1024)) "$rc" "$growth"
  if [ "$rc" -eq 2 ] || [ "$rc" -eq 3 ]; then
    echo "  refused or could not run:"; grep -v '^  ' "$d/out" | head -5 | sed 's/^/    /'
    status=1
  fi
  if [ "$n" -ge 10000 ] && python3 -c "import sys; sys.exit(0 if $wall >= 3 else 1)"; then
    echo "  validate took ${wall}s on $n rules and $m dashboards: the target is under 3 s"
    status=1
  fi
  prev_n=$n prev_t=$wall
done
exit $status
