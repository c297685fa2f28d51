#!/usr/bin/env bash
# Recovery after a load step (docs/BENCHMARKS.md, "Serving with load-aware
# switching"): the path a new user takes (40 OFA subnets profiled with ONNX
# Runtime, a predictor, `search --accuracy macs --verify`, 8 models), then
# `serve_load.py step` with the Frontier policy RUNS times (36 s, 20
# requests/s, two busy processes from 12 s to 24 s, SLO = 1.5x the most
# accurate model's measured latency), and with BASELINE (another `frontier`
# binary, for example the previous release) interleaved run by run, so both
# see the same machine.
#
#   benches/serve_recovery.sh OUT_DIR [BASELINE_FRONTIER]
#   RUNS=10 SLO_MS=21 FRONTIER_SETUP=DIR benches/serve_recovery.sh ...
#
# FRONTIER_SETUP reuses a directory of an earlier run (its out/frontier.json)
# instead of profiling again. Needs ORT_DYLIB_PATH (scripts/fetch-onnxruntime.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
baseline=${2:-}
runs=${RUNS:-10}
mkdir -p "$out"
out=$(cd "$out" && pwd)
: "${ORT_DYLIB_PATH:=$HOME/.local/lib/frontier/libonnxruntime.so.1.32.0}"
export ORT_DYLIB_PATH
cargo build --release -p frontier-agent
bin="${CARGO_TARGET_DIR:-target}/release/frontier"
cp "$bin" "$out/frontier-new"
setup=${FRONTIER_SETUP:-$out/setup}
if [ ! -f "$setup/out/frontier.json" ]; then
  mkdir -p "$setup"
  "$out/frontier-new" profile --space ofa-mbv3 --samples 40 --backend ort --out "$setup/ofa.jsonl" 2> "$setup/profile.log"
  "$out/frontier-new" train "$setup/ofa.jsonl" --space ofa-mbv3 --out "$setup/predictor.json" 2> "$setup/train.log"
  "$out/frontier-new" search --space ofa-mbv3 --predictor "$setup/predictor.json" --accuracy macs \
    --models 8 --verify --out "$setup/out" 2> "$setup/search.log"
fi
manifest="$setup/out/frontier.json"
slo=${SLO_MS:-$(python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))
print(round(1.5 * max(l['measured_ms'] for x in m['models'] for l in x['latency'].values()), 1))" "$manifest")}
echo "SLO ${slo} ms" >&2
labels=(new)
[ -n "$baseline" ] && { cp "$baseline" "$out/frontier-baseline"; labels+=(baseline); }
for i in $(seq 0 $((runs - 1))); do
  for b in "${labels[@]}"; do
    python3 benches/serve_load.py step "$out/frontier-$b" "$manifest" "$out/$b-$i" \
      --slo-ms "$slo" --backend ort --duration 36 --policies frontier --runs 1 | sed "s/^/$b $i /"
  done
done
python3 - "$out" "$runs" "${labels[@]}" <<'PY'
import json, statistics, sys
out, runs, labels = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for b in labels:
    rs = [json.load(open(f"{out}/{b}-{i}/step.json")) for i in range(runs)]
    acc = rs[0]["accuracy"]
    mid = (min(acc.values()) + max(acc.values())) / 2
    fr = [r["results"]["frontier"] for r in rs]
    rec = [x["recovery_s"] for x in fr]
    within = sum(1 for x in rec if x is not None and x <= 3.0)
    q = lambda v: statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    loaded = [x["under_load_miss_rate"] * 100 for x in fr]
    macc = [x["mean_accuracy"] for x in fr]
    print(f"{b}: recovered within 3 s in {within} of {runs} runs; recovery s {[None if x is None else round(x, 2) for x in rec]}")
    print(f"  loaded SLO misses %: median {statistics.median(loaded):.1f} (quartiles {q(loaded)[0]:.1f}-{q(loaded)[2]:.1f}), max {max(loaded):.1f}")
    print(f"  reaction s: max {max(x['reaction_s'] or 99 for x in fr):.2f}; failed requests {sum(x['failed'] for x in fr)}")
    print(f"  mean accuracy served: median {statistics.median(macc):.1f} (min {min(macc):.1f}); midpoint of static fastest and most accurate {mid:.1f}")
PY
