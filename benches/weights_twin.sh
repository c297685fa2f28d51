#!/usr/bin/env bash
# Weights do not change speed: N OFA subnets exported twice, with the
# supernet's weights and as seeded latency twins, profiled interleaved in
# one invocation; per model the ratio weighted/twin and whether it is
# inside the two rows' intervals (sqrt(h_a^2 + h_b^2)).
#
# usage: benches/weights_twin.sh OUT [N] [SUPERNET] [extra profile flags...]
set -euo pipefail
out="$1"; n="${2:-5}"
net="${3:-$(dirname "$0")/../../shared/fixtures/supernet/ofa_mbv3_w1.0.safetensors}"
shift $(( $# < 3 ? $# : 3 ))
bin="${FRONTIER:-${CARGO_TARGET_DIR:-target}/release/frontier}"
rm -rf "$out"; mkdir -p "$out"
"$bin" export --space ofa-mbv3 --samples "$n" --seed 31 --out "$out/twin"
"$bin" export --space ofa-mbv3 --samples "$n" --seed 31 --weights "$net" --out "$out/weighted"
"$bin" profile "$out/twin" "$out/weighted" --backend tract -q --out "$out/rows.jsonl" "$@"
python3 - "$out/rows.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    kind = "weighted" if "/weighted/" in r["model_path"] else "twin"
    by.setdefault(r["model_name"], {})[kind] = r
ratios, inside = [], 0
print(f"{'model':<18} {'twin ms':>9} {'weighted ms':>12} {'ratio':>7} {'interval':>9}")
for name, p in sorted(by.items()):
    t, w = p["twin"], p["weighted"]
    ratio = w["median_ms_corrected"] / t["median_ms_corrected"]
    h = math.sqrt(t["median_ci95_rel"] ** 2 + w["median_ci95_rel"] ** 2)
    ok = abs(math.log(ratio)) <= h
    inside += ok
    ratios.append(ratio)
    print(f"{name:<18} {t['median_ms_corrected']:>9.3f} {w['median_ms_corrected']:>12.3f} {ratio:>7.3f} {'±%.1f%%' % (100*h):>9} {'inside' if ok else 'OUTSIDE'}")
ratios.sort()
print(f"median ratio {ratios[len(ratios)//2]:.3f} (range {ratios[0]:.3f}-{ratios[-1]:.3f}); {inside} of {len(ratios)} inside their intervals")
PY
