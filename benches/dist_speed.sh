#!/usr/bin/env bash
# tract speed of a `dist` build (fat LTO; opt-level 2, or another with
# CARGO_PROFILE_DIST_OPT_LEVEL) against `release` (opt-level 3, no LTO),
# x86_64, paired and interleaved: each of 5
# generated OFA subnets is profiled by both binaries in turn, 3 times,
# alternating which goes first; the ratio per model is the median of the
# paired dist/release medians.
#
#   benches/dist_speed.sh RELEASE_BIN DIST_BIN [WORKDIR=/tmp/frontier-dist-speed]
set -euo pipefail
rel=$1; dist=$2; work=${3:-/tmp/frontier-dist-speed}
mkdir -p "$work"
[ -d "$work/models" ] || "$rel" export --space ofa-mbv3 --samples 5 --seed 7 --out "$work/models" >/dev/null
args=(--backend tract --probe-ref off --instances 1 --rounds 3 --min-time 1s --max-time 3s --json -q)
: > "$work/runs.jsonl"
for alt in 0 1 2; do
  for m in "$work"/models/*.onnx; do
    if [ $(( (alt + ${#m}) % 2 )) -eq 0 ]; then order=("$rel" "$dist"); else order=("$dist" "$rel"); fi
    for b in "${order[@]}"; do
      kind=release; [ "$b" = "$dist" ] && kind=dist
      "$b" profile "$m" "${args[@]}" | tail -1 | python3 -c "import json,sys; r=json.load(sys.stdin); print(json.dumps({'alt': $alt, 'kind': '$kind', 'model': r['model_name'], 'ms': r['median_ms']}))" >> "$work/runs.jsonl"
    done
  done
done
python3 - "$work/runs.jsonl" <<'PY'
import json, statistics, sys, collections
runs = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
for r in runs:
    by[(r['model'], r['alt'])][r['kind']] = r['ms']
models = sorted({m for m, _ in by})
ratios = []
print("| model | release ms | dist ms | dist / release (paired, median of 3) |")
print("| --- | --- | --- | --- |")
for m in models:
    pairs = [v for (mm, _), v in by.items() if mm == m]
    rr = [p['dist'] / p['release'] for p in pairs]
    ratios.append(statistics.median(rr))
    print(f"| {m} | {statistics.median(p['release'] for p in pairs):.2f} | {statistics.median(p['dist'] for p in pairs):.2f} | {ratios[-1]:.3f} ({min(rr):.3f}-{max(rr):.3f}) |")
print(f"| **median** | | | **{statistics.median(ratios):.3f}** ({min(ratios):.3f}-{max(ratios):.3f}) |")
PY
