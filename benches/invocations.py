#!/usr/bin/env python3
"""How far two profiling invocations of the same models agree, raw and put on
one scale by their reference subnets (rows with `reference: true`), as
`frontier train` and `frontier predict` do: the second table's latencies
divided by the geometric mean of its references' ratios to the first's.

    invocations.py FIRST.jsonl SECOND.jsonl

Prints the offset, the references' spread and, per model (matched by
`model_path`), the share within ±2% and ±5%, raw and aligned. Used by
benches/predictor.sh (REPEAT=1); docs/BENCHMARKS.md, "Tables of two invocations".
"""
import json
import math
import statistics
import sys


def load(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    refs = {r["arch"]: r["median_ms_corrected"] for r in rows if r.get("reference")}
    models = {r["model_path"]: r["median_ms_corrected"] for r in rows if not r.get("reference")}
    return refs, models


def main():
    (ra, ma), (rb, mb) = load(sys.argv[1]), load(sys.argv[2])
    logs = [math.log(rb[a] / ra[a]) for a in ra if a in rb]
    if len(logs) < 2:
        sys.exit("fewer than two reference subnets in common: profile both with --references")
    offset = math.exp(statistics.fmean(logs))
    spread = statistics.stdev(logs)
    common = [m for m in ma if m in mb]
    for label, f in (("raw", 1.0), ("aligned", offset)):
        rel = [mb[m] / f / ma[m] - 1 for m in common]
        n = len(rel)
        print(f"{label}: n={n} within2={sum(abs(r) <= 0.02 for r in rel) / n:.3f} "
              f"within5={sum(abs(r) <= 0.05 for r in rel) / n:.3f} "
              f"median={statistics.median(rel) * 100:+.2f}% "
              f"worst={max(rel, key=abs) * 100:+.2f}%")
    print(f"offset {(offset - 1) * 100:+.2f}% from {len(logs)} references (spread {spread * 100:.2f}%)")


if __name__ == "__main__":
    main()
