#!/usr/bin/env python3
"""Calibration of `frontier profile`'s intervals from test-retest pairs
(benches/calibration.sh work directories).

For each pair of invocations and each model: d = ln(b / a) of the corrected
medians, and the pair's interval at nominal level L,
z(L) / z(0.95) * sqrt(h_a^2 + h_b^2), with h the rows' median_ci95_rel
(95% half-widths). Prints the share of pairs whose d falls inside, per
level (a calibrated interval covers about L), agreement within ±5% (all
rows, and pairs where neither row is flagged), the share of rows flagged,
throughput, and the session error that would have made the 95% coverage
exact. --svg writes a reliability plot (nominal against observed coverage).

    benches/calibration.py WORKDIR... [+ WORKDIR...] [--svg FILE] [--label TEXT]...
                           [--session-error S]   # what the rows were measured with
"""
import json
import math
import pathlib
import statistics
import sys
from statistics import NormalDist

LEVELS = [0.5, 0.68, 0.8, 0.9, 0.95, 0.99]
# The --session-error the rows were measured with (frontier's default).
SESSION_ERROR = 0.033


def z(level):
    return NormalDist().inv_cdf(0.5 + level / 2)


def load(path):
    rows = [json.loads(line) for line in open(path)]
    return {r.get("model_name") or r["model_path"]: r for r in rows}


def pairs_of(work):
    out = []
    for d in sorted(pathlib.Path(work).glob("pair_*")):
        if not (d / "b.jsonl").exists():
            continue
        a, b = load(d / "a.jsonl"), load(d / "b.jsonl")
        secs = [float((d / f"{r}.seconds").read_text()) for r in "ab"]
        out.append((a, b, secs, len(a)))
    return out


def analyse(works):
    diffs = []  # (d, ha, hb, flagged_a, flagged_b, stop_a, stop_b, session_a, session_b)
    seconds, models = [], []
    for w in works:
        for a, b, secs, n in pairs_of(w):
            seconds += secs
            models += [n, n]
            for m in a:
                if m not in b:
                    continue
                ra, rb = a[m], b[m]
                d = math.log(rb["median_ms_corrected"] / ra["median_ms_corrected"])
                diffs.append(dict(
                    d=d,
                    ha=ra.get("median_ci95_rel"),
                    hb=rb.get("median_ci95_rel"),
                    fa=ra["unstable"],
                    fb=rb["unstable"],
                    stops=(ra.get("stop_reason"), rb.get("stop_reason")),
                ))
    return diffs, seconds, models


def coverage(diffs, level, session_shift=0.0):
    ok = [x for x in diffs if x["ha"] is not None and x["hb"] is not None]
    if not ok:
        return float("nan"), 0
    inside = 0
    for x in ok:
        # Replace the default session error s0 by s0 + shift in both rows.
        ha2 = x["ha"] ** 2 + session_shift
        hb2 = x["hb"] ** 2 + session_shift
        half = z(level) / z(0.95) * math.sqrt(max(ha2 + hb2, 0.0))
        inside += abs(x["d"]) <= half
    return inside / len(ok), len(ok)


def svg(path, curves):
    w, h, m = 420, 420, 50
    sx = lambda v: m + v * (w - 2 * m)
    sy = lambda v: h - m - v * (h - 2 * m)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(1)}" y2="{sy(1)}" stroke="#999" stroke-dasharray="4 3"/>',
             f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(1)}" y2="{sy(0)}" stroke="black"/>',
             f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(0)}" y2="{sy(1)}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">nominal coverage of the pair\'s interval</text>',
             f'<text x="14" y="{h / 2}" text-anchor="middle" transform="rotate(-90 14 {h / 2})">observed share of test-retest pairs inside</text>']
    for t in [0, 0.25, 0.5, 0.75, 1.0]:
        parts.append(f'<text x="{sx(t)}" y="{sy(0) + 16}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{sx(0) - 6}" y="{sy(t) + 4}" text-anchor="end">{t:g}</text>')
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for k, (label, pts) in enumerate(curves):
        c = colors[k % len(colors)]
        d = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(pts))
        parts.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in pts:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{c}"/>')
        parts.append(f'<text x="{sx(0.04)}" y="{sy(0.97) + 16 * k}" fill="{c}">{label}</text>')
    parts.append("</svg>")
    pathlib.Path(path).write_text("\n".join(parts) + "\n")


def main(argv):
    svg_path, labels, groups = None, [], []
    it = iter(argv)
    for a in it:
        if a == "--svg":
            svg_path = next(it)
        elif a == "--session-error":
            global SESSION_ERROR
            SESSION_ERROR = float(next(it))
        elif a == "--label":
            labels.append(next(it))
        else:
            groups.append(a)
    if not groups:
        sys.exit(__doc__)
    # WORKDIR arguments separated by "+" form one curve: a,b + c
    curves, current = [], []
    for g in groups + ["+"]:
        if g == "+":
            if current:
                curves.append(current)
            current = []
        else:
            current.append(g)
    plot = []
    for k, works in enumerate(curves):
        label = labels[k] if k < len(labels) else " ".join(works)
        diffs, seconds, models = analyse(works)
        n = len(diffs)
        print(f"== {label}: {n} test-retest pairs of rows from {len(seconds) // 2} pairs of invocations")
        pts = []
        for level in LEVELS:
            cov, m = coverage(diffs, level)
            pts.append((level, cov))
            print(f"  nominal {level:.2f}: {cov * 100:5.1f}% of {m} pairs inside")
        plot.append((label, pts))
        within = sum(abs(math.expm1(x["d"])) <= 0.05 for x in diffs)
        clean = [x for x in diffs if not x["fa"] and not x["fb"]]
        clean_within = sum(abs(math.expm1(x["d"])) <= 0.05 for x in clean)
        flagged = sum(x["fa"] + x["fb"] for x in diffs)
        print(f"  corrected medians within ±5%: {within}/{n} ({within / n * 100:.0f}%); "
              f"pairs with neither row flagged: {clean_within}/{len(clean)} "
              f"({clean_within / max(len(clean), 1) * 100:.0f}%)")
        print(f"  rows flagged unstable: {flagged}/{2 * n} ({flagged / (2 * n) * 100:.0f}%)")
        stops = {}
        for x in diffs:
            for s in x["stops"]:
                stops[s] = stops.get(s, 0) + 1
        print(f"  stop reasons: {dict(sorted(stops.items(), key=str))}")
        rates = [n_ * 3600 / s for n_, s in zip(models, seconds)]
        print(f"  throughput: median {statistics.median(rates):.0f} models/hour "
              f"(range {min(rates):.0f}-{max(rates):.0f}; invocations {min(seconds):.0f}-{max(seconds):.0f} s)")
        # The extra session variance (per row) that makes 95% coverage exact.
        lo, hi = -0.0004, 0.01
        for _ in range(50):
            mid = (lo + hi) / 2
            if coverage(diffs, 0.95, mid)[0] < 0.95:
                lo = mid
            else:
                hi = mid
        s0 = SESSION_ERROR
        print(f"  session error that gives exactly 95% coverage: ±{math.sqrt(max(s0 * s0 + hi, 0)) * 100:.2f}% "
              f"(the rows' was ±{s0 * 100:.1f}%)")
    if svg_path:
        svg(svg_path, plot)
        print(f"wrote {svg_path}")


if __name__ == "__main__":
    main(sys.argv[1:])
