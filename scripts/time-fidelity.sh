#!/usr/bin/env bash
# Time fidelity (issue 30, part 4): is an accelerated run's MTTD the MTTD
# of the real-time world it stands for? ServiceDown and DatabaseDown
# (scenarios/fidelity/) run with --trials T at each K, their trials 20
# real-time minutes apart at every K (`trials.every`), so that K=1 and K=15
# sample the same real-time world. Then, per rule, K and required
# destination (and the last page): every trial's measured MTTD, how many
# trials rejoined an open group, min / p50 / p95 / max in real seconds,
# p50's difference from K=1, and whether the K=1 values lie inside that
# K's [min, max]; then the trials a verdict left out, and why. Goal: every
# p50 within 5 real seconds of K=1, and K=1 inside each K's range.
# Then, where promtool is installed, each trial's fault-to-pending time
# split from the run's own TSDB: the wait for the next scrape, the
# scrape's length (an exporter's wall-clock wait) and the wait to the
# next evaluation, which is one value per run (see docs/time-scale.md).
#
# Usage: scripts/time-fidelity.sh [OUT_DIR]
#   K="1 5 10 15" (the time scales), TRIALS=5, K1_TRIALS (trials at K=1;
#   default TRIALS), RULES="service database" (which of scenarios/fidelity/),
#   RUNS=1 (runs per rule and K, each with a fresh stack: RUNS=5 TRIALS=1
#   samples K>1 with no trial able to rejoin an earlier one's group, and a
#   fresh evaluation phase each time).
#   Results are kept in OUT_DIR (default target/time-fidelity), one run
#   directory per rule, K and run, and a run already there is not repeated, so
#   parts can run side by side (different K or RULES) into one OUT_DIR
#   and the last call prints the whole table. TABLE_ONLY=1 only prints it.
# Wall time: T × 20 / K minutes per rule and K plus about a minute:
# 200 minutes for both rules at K=1 with 5 trials.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/time-fidelity}
ks=${K:-1 5 10 15}
trials=${TRIALS:-5}
k1_trials=${K1_TRIALS:-$trials}
rules=${RULES:-service database}
mkdir -p "$out"

if [ -z "${TABLE_ONLY:-}" ]; then
  cargo build --release --quiet || exit 3
  bin=$PWD/target/release/zeta-bench
  for rule in $rules; do
    for k in $ks; do
      for run in $(seq 1 "${RUNS:-1}"); do
        name="$rule-k$k"; [ "$run" -gt 1 ] && name="$name-r$run"
        dir="$out/$name"
        if ls "$dir"/*/result.json >/dev/null 2>&1; then
          echo "time-fidelity: $dir has a result already; not run again" >&2
          continue
        fi
        t=$trials; [ "$k" = 1 ] && t=$k1_trials
        start=$SECONDS
        echo "time-fidelity: $rule-down at K=$k, run $run, $t trials ..." >&2
        # --accept-distortion: at K>1 these trials may rejoin an open group,
        # which run refuses by default; here that is what is measured.
        "$bin" run "scenarios/fidelity/$rule-down.yml" --time-scale "$k" --trials "$t" \
          --accept-distortion --out "$dir" >"$out/$name.log" 2>&1
        echo "time-fidelity: $rule-down at K=$k, run $run: exit $?, $((SECONDS - start)) s wall" >&2
      done
    done
  done
fi

python3 - "$out" <<'PY'
import glob, json, os, re, statistics, sys

out = sys.argv[1]
runs = []
for path in sorted(glob.glob(os.path.join(out, "*-k*", "*", "result.json"))):
    m = re.search(r"([a-z]+)-k([\d.]+)(?:-r\d+)?/", path)
    runs.append(((m.group(1), float(m.group(2))), json.load(open(path))))

def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]

def dest(d):
    if d is None:
        return "last page"
    return d if isinstance(d, str) else "slack:" + d.get("slack", json.dumps(d))

# Every trial's measured MTTD (result.json `detections`), per destination
# and at the last required one; which trials rejoined an open group, and
# which the verdict left out (and why), from `trials`.
rows, notes = {}, []
for (rule, k), r in runs:
    meta = {a["alert"]: a for a in r.get("trials") or []}
    for d in r.get("detections") or []:
        a = meta.get(d["alert"], {})
        cells = [(None, d.get("mttd_real_s"))] + [
            (t["destination"], t.get("mttd_real_s")) for t in d.get("destinations", []) if t.get("required")]
        for where, v in cells:
            if v is not None:
                x = rows.setdefault((d["alert"], dest(where)), {}).setdefault(k, {
                    "vals": [], "rejoining": 0, "first": None, "runs": set(),
                })
                if id(r) not in x["runs"]:
                    x["runs"].add(id(r))
                    x["rejoining"] += len(a.get("rejoining") or [])
                x["vals"].append(v)
                if (d.get("trial") or 1) == 1 and x["first"] is None:
                    x["first"] = v
    for a in meta.values():
        for e in a.get("excluded") or []:
            notes.append(f"  {a['alert']} K={k:g} trial {e['trial']} left out of the verdict: {e['reason'][:150]}")

if not rows:
    print(f"time-fidelity: no results in {out}"); sys.exit(3)
print(f"MTTD per time scale, real-time seconds, every trial (trials in one run 20 real minutes apart; results in {out})")
print(f"{'alert':<13} {'destination':<26} {'K':>3} {'runs':>4} {'n':>3} {'rejoin':>6} {'trial 1':>7} {'min':>6} {'p50':>6} {'p95':>6} {'max':>6} {'Δp50':>6}  K=1 in [min,max]")
bad = 0
for (alert, d), per_k in sorted(rows.items()):
    base = per_k.get(1.0)
    for k, x in sorted(per_k.items()):
        v = x["vals"]
        p50 = statistics.median(v)
        delta, inside = "", ""
        if base and k != 1.0:
            dp = p50 - statistics.median(base["vals"])
            delta = f"{dp:+.1f}"
            ok_in = min(v) <= min(base["vals"]) and max(base["vals"]) <= max(v)
            inside = "yes" if ok_in else "no"
            if abs(dp) > 5 or not ok_in:
                bad += 1
                inside += "  <- outside the goal"
        first = f"{x['first']:.1f}" if x["first"] is not None else "-"
        print(f"{alert:<13} {d[:26]:<26} {k:>3g} {len(x['runs']):>4} {len(v):>3} {x['rejoining']:>6} {first:>7} {min(v):>6.1f} {p50:>6.1f} "
              f"{pct(v, .95):>6.1f} {max(v):>6.1f} {delta:>6}  {inside}")
for n in notes:
    print(n)
print(f"time-fidelity: {bad} row(s) outside the goal (p50 within 5 s of K=1, K=1 inside [min, max])")
PY
rc=$?

# Where each trial's time from the fault to the rule's pending went, from
# each run's own TSDB (needs promtool): the wait for the next scrape of the
# job that shows the fault (random per trial), that scrape's own length
# (where an exporter's wall-clock wait shows; the only part K changes),
# and the wait from the scrape's end to the next rule evaluation. Scrapes
# and evaluations tick at the same interval, so that last wait is one
# value for a whole run: its trials sample it once, not once each.
command -v promtool >/dev/null 2>&1 && python3 - "$out" <<'PY'
import glob, json, os, re, statistics, subprocess, sys
from datetime import datetime, timezone

rest = {}

JOB = {"postgresql": "postgres-exporter"}
# The series whose 0 shows the fault, beside `up`: at 1× postgres_exporter
# answers its scrape after its wait, so `up` stays 1 and pg_up reads 0; at
# a K where the scaled timeout cuts the scrape short, `up` reads 0.
SHOWS = {"postgresql": "pg_up"}

def ms(s):
    day, _, frac = s.rstrip("Z").partition(".")
    t = datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()
    return (t + float("0." + (frac or "0"))) * 1000

def dump(data, match):
    out = subprocess.run(["promtool", "tsdb", "dump", f"--match={match}", data],
                         capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        m = re.match(r'\{__name__="(\w+)".*\} (\S+) (\d+)$', line.strip())
        if m:
            yield m.group(1), float(m.group(2)), int(m.group(3))

print("\nFault to pending, real seconds, per trial: next scrape + scrape length + scrape end to evaluation")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*-k*", "*", "result.json"))):
    r = json.load(open(path))
    data = os.path.join(os.path.dirname(path), "data", "prometheus")
    k = r.get("time_scale") or 1
    faults = {(f.get("trial") or 1): f for f in r.get("faults") or []}
    for d in r.get("detections") or []:
        f = faults.get(d.get("trial") or 1)
        if not (f and d.get("pending_at") and d.get("fault_took_effect_at") and os.path.isdir(data)):
            continue
        job = JOB.get(f["target"], f["target"])
        shows = {"up", SHOWS.get(f["target"], "up")}
        series = list(dump(data, f'{{job="{job}",__name__=~"{"|".join(sorted(shows))}|scrape_duration_seconds"}}'))
        down = sorted({t for n, v, t in series if n in shows and v == 0})
        length = {t: v for n, v, t in series if n == "scrape_duration_seconds"}
        at, pending = ms(d["fault_took_effect_at"]), ms(d["pending_at"])
        first = next((t for t in down if t >= at - 1000), None)
        if first is None or first not in length:
            continue
        end = first + length[first] * 1000
        evals = sorted(t for _, _, t in dump(data, f'ALERTS{{alertname="{d["alert"]}",alertstate="pending"}}')
                       if t >= at)
        ev = evals[0] if evals else pending
        parts = [(first - at) / 1000 * k, length[first] * k, (ev - end) / 1000 * k]
        print(f"  {d['alert']:<13} K={k:<3g} trial {d.get('trial') or 1}: "
              f"{parts[0]:5.1f} + {parts[1]:4.1f} + {parts[2]:5.1f} = {sum(parts):5.1f}")
        if d.get("mttd_real_s") is not None:
            rest.setdefault((d["alert"], k), []).append(d["mttd_real_s"] - parts[0] - parts[2])

# The same MTTD without the two phase waits, which are uniform over one
# interval at every K (the fault's phase against the scrapes, and the
# run's scrape-to-evaluation offset): what remains is what K can change,
# the scrape's length and everything from the rule's expression holding
# to the page. Its p50 per K against K=1 compares K, not phase draws.
if rest:
    print("\nMTTD less the two phase waits, real seconds: what K can change")
    print(f"{'alert':<13} {'K':>3} {'n':>3} {'min':>6} {'p50':>6} {'max':>6} {'Δp50':>6}")
    for (alert, k), v in sorted(rest.items()):
        base = rest.get((alert, 1))
        delta = f"{statistics.median(v) - statistics.median(base):+.1f}" if base and k != 1 else ""
        print(f"{alert:<13} {k:>3g} {len(v):>3} {min(v):>6.1f} {statistics.median(v):>6.1f} {max(v):>6.1f} {delta:>6}")
PY
exit $rc
