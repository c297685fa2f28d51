#!/usr/bin/env bash
# tract vs ONNX Runtime on the same models, 1 thread and all cores, each
# measured by one `frontier profile --backend auto` run (both backends in the
# same interleaved rounds, so drift hits them alike).
#
#   benches/tract_vs_ort.sh [WORKDIR]
#
# Models: the fixtures, 10 generated OFA subnets (seed 11) and 2 generated
# GPT-2 decoders (seq 128, vocab 50257). Prints the per-model medians and the
# ratio tract / ort for each thread count.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontier/target}"
cargo build --release -q -p frontier-agent
bin="$CARGO_TARGET_DIR/release/frontier"
[ -d "$work/ofa" ] || "$bin" export --space ofa-mbv3 --samples 10 --seed 11 --out "$work/ofa" 2>/dev/null
[ -d "$work/gpt2" ] || "$bin" export --space gpt2 --samples 2 --seed 5 --out "$work/gpt2" 2>/dev/null
cores=$(nproc)
for t in 1 "$cores"; do
  "$bin" profile ../shared/fixtures/onnx "$work/ofa" "$work/gpt2" --backend auto --threads "$t" \
    --min-time 2s --rounds 5 -q --out "$work/t$t.csv"
done
python3 - "$work" "$cores" <<'PY'
import sys, pandas as pd
work, cores = sys.argv[1], sys.argv[2]
for t in ["1", cores]:
    d = pd.read_csv(f"{work}/t{t}.csv")
    p = d.pivot_table(index="model_name", columns="backend", values="median_ms_corrected")
    p["tract/ort"] = p["tract"] / p["ort"]
    print(f"\n{t} thread(s): corrected medians (ms)")
    print(p.round(3).to_string())
    print(f"ratio tract/ort: median {p['tract/ort'].median():.2f}, range {p['tract/ort'].min():.2f}-{p['tract/ort'].max():.2f}")
PY
