#!/usr/bin/env bash
# Tract latency of the generated twins of the PyTorch-exported OFA fixtures
# against the fixtures themselves, measured interleaved in one invocation.
#   benches/twins.sh [WORKDIR=/tmp/frontier-twins]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/frontier-twins}"
shared="${FRONTIER_SHARED:-../shared}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontier/target}"
cargo build --release -q -p frontier-agent
bin="$CARGO_TARGET_DIR/release/frontier"
rm -rf "$work" && mkdir -p "$work"
for f in ofa_mbv3_ref0_r128_opset13 ofa_mbv3_ref3_r192_opset20; do
  arch=$(python3 -c "import json,sys; m=[m for m in json.load(open('$shared/fixtures/onnx/index.json'))['models'] if m['file']=='$f.onnx'][0]; print(json.dumps(m['config']))")
  "$bin" export --space ofa-mbv3 --arch "$arch" --out "$work/twin_of_$f.onnx"
done
"$bin" profile "$shared/fixtures/onnx/ofa_mbv3_ref0_r128_opset13.onnx" "$shared/fixtures/onnx/ofa_mbv3_ref3_r192_opset20.onnx" \
  "$work"/twin_of_*.onnx --min-time 3s --max-time 15s --json -q > "$work/rows.jsonl"
python3 - "$work/rows.jsonl" <<'PY'
import json, sys
rows = {r["model_name"]: r for r in map(json.loads, open(sys.argv[1]))}
for f in ["ofa_mbv3_ref0_r128_opset13", "ofa_mbv3_ref3_r192_opset20"]:
    a, b = rows[f], rows["twin_of_" + f]
    print(f"{f}: PyTorch export {a['median_ms']:.3f} ms (p10-p90 {a['p10_ms']:.3f}-{a['p90_ms']:.3f}), "
          f"generated twin {b['median_ms']:.3f} ms (p10-p90 {b['p10_ms']:.3f}-{b['p90_ms']:.3f}), "
          f"twin/export {b['median_ms']/a['median_ms']:.3f}")
PY
