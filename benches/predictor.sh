#!/usr/bin/env bash
# Latency predictor accuracy on this machine (docs/BENCHMARKS.md, "Latency
# predictors"): active profiling within a budget trains the predictor; it is
# then evaluated on subnets it never saw (other seed) and on the
# PyTorch-exported Once-for-All fixtures (archs from shared/fixtures/onnx/index.json).
#
#   BACKEND=ort BUDGET=8m EVAL=20 TORCH_EVAL=40 TORCH_SEED=31 REPEAT=1 benches/predictor.sh [OUT_DIR]
#   BACKEND=tract BUDGET=15m EVAL=20 TORCH_EVAL=40 TORCH_SEED=32 REPEAT=1 benches/predictor.sh [OUT_DIR]
#   SPACE=gpt2 BACKEND=tract BUDGET=20m EVAL=20 benches/predictor.sh [OUT_DIR]
#
# Every profiling step is its own invocation and measures the space's
# reference subnets beside its models (rows `reference: true`); `predict`
# puts each evaluation table on the predictor's scale by them and says the
# offset. REPEAT=1 profiles the PyTorch set a second time and reports how far
# the two invocations agree, raw and aligned by their references
# (benches/invocations.py).
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${BACKEND:-ort}"
space="${SPACE:-ofa-mbv3}"
budget="${BUDGET:-8m}"
eval_n="${EVAL:-30}"
out="${1:-$(mktemp -d)}"
shared="${FRONTIER_SHARED:-$(pwd)/../shared}"
mkdir -p "$out"
export FRONTIER_STATE_DIR="$out/state"
cargo build --release -p frontier-agent
bin="${CARGO_TARGET_DIR:-target}/release/frontier"
time "$bin" profile --space "$space" --budget "$budget" --backend "$backend" --seed 1 \
  --out "$out/train.jsonl" --predictor-out "$out/predictor.json" -q
"$bin" profile --space "$space" --samples "$eval_n" --backend "$backend" --seed 99 --out "$out/eval.jsonl" -q
"$bin" predict --predictor "$out/predictor.json" --archs "$out/eval.jsonl" --json > "$out/eval.pred.jsonl"
python3 benches/predictor_eval.py "$out/eval.pred.jsonl" "$out/eval.jsonl" "held-out generated subnets"
if [ "$space" != ofa-mbv3 ]; then echo "results in $out"; exit 0; fi
# Real PyTorch exports: the fixtures, and an evaluation set exported here by
# the reference `ofa` package (TORCH_EVAL subnets, 0 to skip) into $out/torch
# (never committed). torch and ofa go into a venv outside the checkout.
torch_n="${TORCH_EVAL:-20}"
venv="${FRONTIER_TORCH_VENV:-$HOME/.cache/frontier/torch-venv}"
evaluate_exports() { # DIR LABEL FILES...: profile, attach archs from DIR/index.json, score
  local dir=$1 label=$2; shift 2
  "$bin" profile "$@" --backend "$backend" --references ofa-mbv3 --json -q > "$out/$label.raw.jsonl"
  python3 - "$dir/index.json" "$out/$label.raw.jsonl" "$out/$label.jsonl" <<'PY'
import json, sys
index = {m["file"]: m["config"] for m in json.load(open(sys.argv[1]))["models"]}
with open(sys.argv[3], "w") as out:
    for line in open(sys.argv[2]):
        r = json.loads(line)
        if not r.get("reference"):  # reference rows carry their arch
            c = index[r["model_path"].split("/")[-1]]
            r["arch"] = json.dumps({k: c[k] for k in ("d", "e", "ks", "r")}, separators=(",", ":"))
        out.write(json.dumps(r) + "\n")
PY
  "$bin" predict --predictor "$out/predictor.json" --archs "$out/$label.jsonl" --json > "$out/$label.pred.jsonl"
  python3 benches/predictor_eval.py "$out/$label.pred.jsonl" "$out/$label.jsonl" "$label"
}
evaluate_exports "$shared/fixtures/onnx" torch-fixtures \
  "$shared/fixtures/onnx/ofa_mbv3_ref0_r128_opset13.onnx" "$shared/fixtures/onnx/ofa_mbv3_ref3_r192_opset20.onnx"
if [ "$torch_n" -gt 0 ]; then
  if ! "$venv/bin/python" -c 'import torch, ofa' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check torch torchvision onnx ofa
  fi
  "$venv/bin/python" benches/torch_ofa_subnets.py "$out/torch" "$torch_n" "${TORCH_SEED:-7}"
  evaluate_exports "$out/torch" torch-ofa "$out"/torch/*.onnx
  if [ "${REPEAT:-0}" = 1 ]; then
    evaluate_exports "$out/torch" torch-ofa-again "$out"/torch/*.onnx
    python3 benches/invocations.py "$out/torch-ofa.jsonl" "$out/torch-ofa-again.jsonl"
  fi
fi
echo "results in $out"
