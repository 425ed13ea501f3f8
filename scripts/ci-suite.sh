#!/usr/bin/env bash
# The seven-alert CI suite's wall time (issue 18), with figures:
# `zeta-bench run scenarios/ci/*.yml --jobs N` (every scenario at once, each
# in a stack of its own, by default), and with --compare also the same
# suite one scenario after another (--jobs 1), side by side. Per scenario:
# its verdict, each expected alert's MTTD and the load engine's send
# lateness p99, which says whether the shared cores starved the load.
#
# Usage: scripts/ci-suite.sh [--jobs N] [--compare]   (N defaults to 7;
#        about 1¾ minutes, plus about 7 with --compare)
# Exits 1 when the side-by-side suite took longer than 3 minutes or its
# verdicts differ from the one-after-another run's, 3 when it could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=7
compare=false
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) jobs=$2; shift 2 ;;
    --compare) compare=true; shift ;;
    *) echo "usage: scripts/ci-suite.sh [--jobs N] [--compare]" >&2; exit 2 ;;
  esac
done
target_s=180
cargo build --release --quiet || exit 3
bin=$PWD/target/release/zeta-bench
out=$(mktemp -d /tmp/zeta-ci-suite.XXXXXX)
trap 'rm -rf "$out"' EXIT

figures() { # a suite's out dir → one line per scenario, sorted by name
  python3 - "$1" <<'PY'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "result.json"))):
    r = json.load(open(path))
    mttd = []
    for d in r.get("detections") or []:
        real = d.get("mttd_real_s")
        mttd.append(f"{d['alert']} {real:.0f}s" if real is not None else f"{d['alert']} missed")
    lateness = ((r.get("load") or {}).get("send_lateness") or {}).get("p99_ms")
    late = f"{lateness:.1f} ms" if isinstance(lateness, (int, float)) else "?"
    print(f"{r['scenario']['name']:<18} {r['verdict']:<11} lateness p99 {late:<9} {', '.join(mttd) or 'no detection'}")
PY
}

suite() { # name jobs → wall seconds on stdout
  local name=$1 n=$2 start=$SECONDS
  "$bin" run scenarios/ci/*.yml --jobs "$n" --out "$out/$name" >"$out/$name.log" 2>&1 </dev/null
  local rc=$?
  if [ "$rc" -gt 1 ]; then
    echo "zeta-bench exited $rc for --jobs $n; its output:" >&2
    tail -40 "$out/$name.log" >&2
    exit 3
  fi
  echo $((SECONDS - start))
}

echo "seven-alert suite, scenarios/ci/*.yml, on $(nproc) core(s)"
wide=$(suite wide "$jobs")
echo
echo "--jobs $jobs: ${wide} s wall"
figures "$out/wide" | tee "$out/wide.figures"
status=0
if [ "$wide" -le "$target_s" ]; then
  echo "target ≤ ${target_s} s: met"
else
  echo "target ≤ ${target_s} s: NOT met"
  status=1
fi
if $compare; then
  narrow=$(suite narrow 1)
  echo
  echo "--jobs 1: ${narrow} s wall"
  figures "$out/narrow" | tee "$out/narrow.figures"
  echo
  printf '%-10s %8s\n' "jobs" "wall"
  printf '%-10s %7ss\n' "$jobs" "$wide" 1 "$narrow"
  if ! diff <(awk '{print $1, $2}' "$out/wide.figures") <(awk '{print $1, $2}' "$out/narrow.figures") >/dev/null; then
    echo "the verdicts differ between --jobs $jobs and --jobs 1"
    status=1
  else
    echo "the verdicts are the same either way"
  fi
fi
exit $status
