#!/usr/bin/env bash
# Learning curve on a later invocation (docs/BENCHMARKS.md, "Latency
# predictors"): the first m rows of a training table, in the order they were
# measured (active profiling's order), train a predictor, which predicts an
# evaluation table measured in another invocation (aligned by the reference
# subnets of both); one line per m with what `train` expected and what the
# later invocation got.
#
#   benches/learning_curve.sh TRAIN.jsonl EVAL.jsonl [SPACE] [M...]
#   benches/learning_curve.sh /tmp/bt/train.jsonl /tmp/bt/torch-ofa.jsonl ofa-mbv3 10 20 40 80
set -euo pipefail
cd "$(dirname "$0")/.."
train=$1 eval=$2 space=${3:-ofa-mbv3}
shift $(( $# < 3 ? $# : 3 ))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 16 24 32 48 64 80 96 128)
bin="${CARGO_TARGET_DIR:-target}/release/frontier"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
total=$(grep -vc '"reference":true' "$train" || true)
for m in "${sizes[@]}"; do
  [ "$m" -le "$total" ] || break
  # The first m models and every reference row (the invocation's scale).
  python3 - "$train" "$m" > "$work/t.jsonl" <<'PY'
import json, sys
n, m = 0, int(sys.argv[2])
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("reference"):
        print(line, end="")
    elif n < m:
        n += 1
        print(line, end="")
PY
  "$bin" train "$work/t.jsonl" --space "$space" --kind learned --out "$work/p.json" --report "$work/r.json" > /dev/null 2>&1
  expected=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print("expected within10=%.3f within5=%.3f tau=%.3f" % (m["within_10pct"], m["within_5pct"], m["kendall_tau"]))
' "$work/r.json")
  "$bin" predict --predictor "$work/p.json" --archs "$eval" --json > "$work/pred.jsonl" 2>/dev/null
  got=$(python3 benches/predictor_eval.py "$work/pred.jsonl" "$eval" "later")
  echo "rows=$m $expected | $got"
done
