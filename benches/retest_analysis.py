#!/usr/bin/env python3
"""Between-invocation shifts of test-retest runs (benches/test_retest.sh).

For each WORKDIR (its frontier_a.jsonl and frontier_b.jsonl), prints how far
the session's probe moved between the two invocations against how far the
models' raw medians moved (median over models), then the least-squares
slope of the second on the first through the origin over all pairs.
With --modes, it also recomputes agreement within ±5% under other
corrections of the session's shift, from each row's raw median and median
probe ratio. That is approximate: the harness applies factors per slice.

    benches/retest_analysis.py [--modes] WORKDIR...
"""
import json
import statistics
import sys


def load(path):
    rows = [json.loads(line) for line in open(path)]
    return {r.get("model_name") or r["model_path"]: r for r in rows}


def session_probe(rows):
    r = next(iter(rows.values()))
    if r.get("probe_session_ms"):
        return r["probe_session_ms"]
    # Before table 1.2: the rows' median probe ratio times the reference.
    return statistics.median(x["probe_ratio"] for x in rows.values()) * r["probe_ref_ms"]


def corrected(x, mode):
    raw, ratio, beta = x["median_ms"], x["probe_ratio"], x["probe_beta"]
    session = x["probe_session_ms"] / x["probe_ref_ms"]
    return {
        "none (raw medians)": raw,
        "as run": x["median_ms_corrected"],
        "the within-session estimate": raw * (1 / ratio) ** beta,
        "within-session only": raw * (session / ratio) ** beta,
    }[mode]


def main(argv):
    modes = "--modes" in argv
    dirs = [a for a in argv if a != "--modes"]
    if not dirs:
        sys.exit(__doc__)
    pairs = []
    for d in dirs:
        a, b = load(f"{d}/frontier_a.jsonl"), load(f"{d}/frontier_b.jsonl")
        probe = session_probe(b) / session_probe(a) - 1
        models = statistics.median(b[m]["median_ms"] / a[m]["median_ms"] - 1 for m in a)
        pairs.append((probe, models))
        print(f"{d}: probe {probe * 100:+.1f}%, models {models * 100:+.1f}%")
    sxx = sum(p * p for p, _ in pairs)
    if sxx > 0:
        slope = sum(p * m for p, m in pairs) / sxx
        ratios = sorted(m / p for p, m in pairs if abs(p) > 0.03)
        print(f"slope through the origin over {len(pairs)} pairs: {slope:.2f}; "
              f"ratios where the probe moved > 3%: {[round(r, 2) for r in ratios]}")
    if modes:
        for mode in ["none (raw medians)", "as run",
                     "the within-session estimate", "within-session only"]:
            within = total = 0
            for d in dirs:
                a, b = load(f"{d}/frontier_a.jsonl"), load(f"{d}/frontier_b.jsonl")
                for m in a:
                    d_rel = corrected(b[m], mode) / corrected(a[m], mode) - 1
                    within += abs(d_rel) <= 0.05
                    total += 1
            print(f"{mode:28s} {within}/{total} within ±5%")


if __name__ == "__main__":
    main(sys.argv[1:])
