#!/usr/bin/env bash
# Pareto search on this machine (docs/BENCHMARKS.md, "Pareto search"):
# NSGA-II against random search at equal predictor calls over 10 seeds, the
# time of 100 x 50 and 50 x 100 searches, and --verify of the frontier on
# the device of the first predictor.
#
#   benches/search.sh OUT_DIR PREDICTOR.json [PREDICTOR2.json ...]
#   ACCURACY=params benches/search.sh ...      # default macs
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1; shift
accuracy="${ACCURACY:-macs}"
mkdir -p "$out"
cargo build --release -p frontier-agent
bin="${CARGO_TARGET_DIR:-target}/release/frontier"
preds=()
for p in "$@"; do preds+=(--predictor "$p"); done
for shape in "100 50" "50 100"; do
  set -- $shape
  for seed in 0 1 2 3 4 5 6 7 8 9; do
    dir="$out/p$1-g$2-s$seed"
    "$bin" search --space ofa-mbv3 "${preds[@]}" --accuracy "$accuracy" \
      --population "$1" --generations "$2" --seed "$seed" --out "$dir" > /dev/null 2> "$dir.log" || { cat "$dir.log"; exit 1; }
  done
done
python3 - "$out" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
for shape in ("p100-g50", "p50-g100"):
    rows = []
    for d in sorted(glob.glob(f"{out}/{shape}-s*/")):
        s = json.load(open(d + "frontier.json"))["search"]
        rows.append((s["hypervolume"], s["random_search_hypervolume"], s["seconds"], s["evaluations"]))
    wins = sum(1 for h, r, *_ in rows if h >= r)
    ratio = [h / r for h, r, *_ in rows if r > 0]
    secs = [t for *_, t, _ in rows]
    print(f"{shape}: NSGA-II >= random in {wins} of {len(rows)} seeds; HV ratio median {statistics.median(ratio):.3f} "
          f"(min {min(ratio):.3f}, max {max(ratio):.3f}); evaluations median {statistics.median([e for *_, e in rows]):.0f}; "
          f"seconds median {statistics.median(secs):.2f} (max {max(secs):.2f})")
PY
# Verify the frontier of seed 0 on this device.
"$bin" search --space ofa-mbv3 "${preds[@]}" --accuracy "$accuracy" --seed 0 --out "$out/verify" --verify
echo "results in $out"
