#!/usr/bin/env bash
# Latency predictor accuracy on this machine (docs/BENCHMARKS.md, "Latency
# predictors"): active profiling within a budget trains the predictor; it is
# then evaluated on subnets it never saw (other seed) and on the
# PyTorch-exported Once-for-All fixtures (archs from shared/fixtures/onnx/index.json).
#
#   BACKEND=ort BUDGET=8m EVAL=30 benches/predictor.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${BACKEND:-ort}"
budget="${BUDGET:-8m}"
eval_n="${EVAL:-30}"
out="${1:-$(mktemp -d)}"
shared="${FRONTIER_SHARED:-$(pwd)/../shared}"
mkdir -p "$out"
export FRONTIER_STATE_DIR="$out/state"
cargo build --release -p frontier-agent
bin="${CARGO_TARGET_DIR:-target}/release/frontier"
time "$bin" profile --space ofa-mbv3 --budget "$budget" --backend "$backend" --seed 1 \
  --out "$out/train.jsonl" --predictor-out "$out/predictor.json" -q
"$bin" profile --space ofa-mbv3 --samples "$eval_n" --backend "$backend" --seed 99 --out "$out/eval.jsonl" -q
"$bin" predict --predictor "$out/predictor.json" --archs "$out/eval.jsonl" --json > "$out/eval.pred.jsonl"
python3 benches/predictor_eval.py "$out/eval.pred.jsonl" "$out/eval.jsonl" "held-out generated subnets"
# The PyTorch exports: profile them, give each row its arch from the fixtures' index.
"$bin" profile "$shared/fixtures/onnx/ofa_mbv3_ref0_r128_opset13.onnx" "$shared/fixtures/onnx/ofa_mbv3_ref3_r192_opset20.onnx" \
  --backend "$backend" --json -q > "$out/torch.raw.jsonl"
python3 - "$shared/fixtures/onnx/index.json" "$out/torch.raw.jsonl" "$out/torch.jsonl" <<'PY'
import json, sys
index = {m["file"]: m["config"] for m in json.load(open(sys.argv[1]))["models"]}
with open(sys.argv[3], "w") as out:
    for line in open(sys.argv[2]):
        r = json.loads(line)
        c = index[r["model_path"].split("/")[-1]]
        r["arch"] = json.dumps({k: c[k] for k in ("d", "e", "ks", "r")}, separators=(",", ":"))
        out.write(json.dumps(r) + "\n")
PY
"$bin" predict --predictor "$out/predictor.json" --archs "$out/torch.jsonl" --json > "$out/torch.pred.jsonl"
python3 benches/predictor_eval.py "$out/torch.pred.jsonl" "$out/torch.jsonl" "PyTorch-exported fixtures"
echo "results in $out"
