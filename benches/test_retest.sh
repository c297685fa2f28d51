#!/usr/bin/env bash
# Test-retest agreement of medians: the same generated Once-for-All subnets
# profiled in two separate invocations of `frontier profile` (defaults), and
# with the naive loop (5 warm-ups, 30 runs, one model after another) twice.
# Prints the share of models whose medians agree within ±5% for each.
#
#   benches/test_retest.sh [N_MODELS=20] [WORKDIR=/tmp/frontier-retest]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
work="${2:-/tmp/frontier-retest}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontier/target}"
cargo build --release -q -p frontier-agent -p frontier-profiler --examples --bins
bin="$CARGO_TARGET_DIR/release"
rm -rf "$work" && mkdir -p "$work"
"$bin/frontier" export --space ofa-mbv3 --samples "$n" --seed 1 --out "$work/models"
# A fresh state directory: the first invocation stores this device's probe reference.
export FRONTIER_STATE_DIR="$work/state"
for run in a b; do
  start=$(date +%s.%N)
  "$bin/frontier" profile "$work/models" --out "$work/frontier_$run.jsonl" -q
  echo "frontier run $run: $(echo "$(date +%s.%N) - $start" | bc) s"
  start=$(date +%s.%N)
  "$bin/examples/naive_loop" "$work/models" > "$work/naive_$run.jsonl"
  echo "naive run $run: $(echo "$(date +%s.%N) - $start" | bc) s"
done
python3 - "$work" <<'PY'
import json, sys, statistics
w = sys.argv[1]
def load(name, key):
    rows = [json.loads(l) for l in open(f"{w}/{name}")]
    return {r.get("model_name") or r["model"]: r[key] for r in rows}
def agree(a, b):
    d = [abs(a[m] / b[m] - 1) for m in a]
    within = sum(x <= 0.05 for x in d)
    return within, len(d), statistics.median(d), max(d)
for label, name, key in [("frontier raw median", "frontier_{}.jsonl", "median_ms"),
                         ("frontier corrected median", "frontier_{}.jsonl", "median_ms_corrected"),
                         ("naive loop median", "naive_{}.jsonl", "median_ms")]:
    a, b = load(name.format("a"), key), load(name.format("b"), key)
    within, total, med, worst = agree(a, b)
    print(f"{label:28s} {within}/{total} within ±5%  (median |diff| {med*100:.1f}%, worst {worst*100:.1f}%)")
rows = [json.loads(l) for f in ("a", "b") for l in open(f"{w}/frontier_{f}.jsonl")]
print("unstable rows:", sum(r["unstable"] for r in rows), "of", len(rows),
      "| median runs per row:", statistics.median(r["n_runs"] for r in rows),
      "| median probe drift: %.1f%%" % (100 * statistics.median(r["probe_drift"] for r in rows)),
      "| probe_beta per invocation:", sorted({r["probe_beta"] for r in rows}))
def med(key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else float("nan")
print("median rounds per row:", med("rounds"),
      "| median instance spread: %.1f%%" % (100 * med("instance_spread")),
      "| session probe per invocation (ms):", sorted({r.get("probe_session_ms") for r in rows}, key=str),
      "| stored reference (ms):", rows[0].get("probe_ref_ms"))
PY
