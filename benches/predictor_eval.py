#!/usr/bin/env python3
"""Accuracy of a Frontier latency predictor against measured rows.

Reads a predictor's predictions (`frontier predict --json` lines, in the order
of the evaluation rows; `predict` leaves out the table's reference rows, and
so does this) and the evaluation table (JSON Lines), and prints
the share within ±5% / ±10% of the measured corrected median, MAPE, Kendall's
tau and the intervals' coverage. Used by benches/predictor.sh.

    predictor_eval.py PREDICTIONS.jsonl EVAL_TABLE.jsonl [LABEL]
"""
import json
import sys


def kendall(a, b):
    n, c, d = len(a), 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            s = (a[i] - a[j]) * (b[i] - b[j])
            c += s > 0
            d += s < 0
    return (c - d) / max(1, c + d)


def main():
    preds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    rows = [r for r in rows if not r.get("reference")]
    label = sys.argv[3] if len(sys.argv) > 3 else sys.argv[2]
    if len(preds) != len(rows):
        sys.exit(f"{len(preds)} predictions for {len(rows)} rows")
    truth = [r["median_ms_corrected"] for r in rows]
    p = [x["predicted_ms"] for x in preds]
    rel = [pi / t - 1 for pi, t in zip(p, truth)]
    inside = sum(lo <= t <= hi for (lo, hi), t in ((x["interval_ms"], t) for x, t in zip(preds, truth)))
    n = len(rel)
    print(f"{label}: n={n} within5={sum(abs(r) <= 0.05 for r in rel) / n:.3f} "
          f"within10={sum(abs(r) <= 0.10 for r in rel) / n:.3f} "
          f"mape={sum(abs(r) for r in rel) / n * 100:.2f}% tau={kendall(truth, p):.3f} "
          f"coverage={inside / n:.3f} worst={max(rel, key=abs) * 100:+.1f}%"
          + (f" offset={preds[0]['invocation_offset'] * 100:+.2f}%" if "invocation_offset" in preds[0] else ""))


if __name__ == "__main__":
    main()
