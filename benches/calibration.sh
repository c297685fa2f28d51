#!/usr/bin/env bash
# Test-retest pairs for the calibration of `frontier profile`'s intervals
# (docs/BENCHMARKS.md, "Calibration of the interval"): PAIRS pairs of
# invocations with defaults on N generated OFA subnets, one device state
# (stored probe reference) for all. NOISE=1 runs benches/noise.py beside
# them: busy neighbours that come and go every 0.3-3 s.
#
#   [NOISE=0|1] [EXTRA="--flag ..."] benches/calibration.sh [N=20] [PAIRS=3] [WORKDIR=/tmp/frontier-calibration]
#   benches/calibration.py WORKDIR... [--svg FILE]     # coverage, agreement, throughput
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
pairs="${2:-3}"
work="${3:-/tmp/frontier-calibration}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/frontier/target}"
cargo build --release -q -p frontier-agent
bin="$CARGO_TARGET_DIR/release/frontier"
mkdir -p "$work"
[ -d "$work/models" ] || "$bin" export --space ofa-mbv3 --samples "$n" --seed 1 --out "$work/models" >/dev/null
export FRONTIER_STATE_DIR="$work/state"
noise_pid=
if [ "${NOISE:-0}" = 1 ]; then
  python3 benches/noise.py --seconds 7200 --seed "$RANDOM" & noise_pid=$!
  trap 'kill $noise_pid 2>/dev/null || true' EXIT
fi
start_pair=$(find "$work" -maxdepth 1 -name 'pair_*' | wc -l)
for p in $(seq "$start_pair" $((start_pair + pairs - 1))); do
  d="$work/pair_$p"
  mkdir -p "$d"
  for run in a b; do
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$bin" profile "$work/models" --out "$d/$run.jsonl" -q ${EXTRA:-}
    echo "$(echo "$(date +%s.%N) - $t0" | bc)" > "$d/$run.seconds"
    echo "pair $p run $run: $(cat "$d/$run.seconds") s"
  done
done
