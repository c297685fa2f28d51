#!/usr/bin/env python3
"""Which side is off when `frontier profile --backend ort` and the Python
`onnxruntime` package disagree? Four measurements of each model, paired and
interleaved, all on one CPU (this process and every child pinned to
--cpu with sched_setaffinity), rotated so that none always goes first:

  python     InferenceSession.run(None, feeds): 10 warm-ups, median of 60
             runs (the protocol of the check that found the gap)
  python-io  the same session with IOBinding: inputs bound once as
             OrtValues, outputs preallocated (no per-call conversion)
  c-loop     ONNX Runtime's C library (libonnxruntime.so, as Frontier loads
             it) in a plain loop: Frontier's ORT state, 10 warm-ups, median
             of 60 (profiler/examples/naive_loop.rs)
  frontier   `frontier profile --backend ort` with its defaults: raw median
             and probe-corrected median of the row

Ratios are paired per alternation (same minute), then the median over
alternations; the summary is the median and range over models.

    python3 benches/ort_bias.py --frontier BIN --loop BIN [--alternations 3] [--cpu 1] MODEL_OR_DIR...
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def feeds_for(sess):
    rng = np.random.default_rng(0)
    out = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        out[i.name] = rng.random(size=shape, dtype=np.float32)
    return out


def timed(fn, warmup=10, runs=60):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        t.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(t)


def python_plain(path):
    s = session(path)
    f = feeds_for(s)
    return timed(lambda: s.run(None, f))


def python_iobinding(path):
    s = session(path)
    f = feeds_for(s)
    b = s.io_binding()
    for name, v in f.items():
        b.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(v))
    for o in s.get_outputs():
        b.bind_output(o.name)
    s.run_with_iobinding(b)  # allocates the outputs once
    outs = b.get_outputs()
    for o, v in zip(s.get_outputs(), outs):
        b.bind_ortvalue_output(o.name, v)
    return timed(lambda: s.run_with_iobinding(b))


def c_loop(binary, path, lib):
    args = [binary, str(path), "--backend", "ort", "--warmup", "10", "--runs", "60"]
    if lib:
        args += ["--ort-lib", lib]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median_ms"]


def frontier(binary, path, lib):
    args = [binary, "profile", str(path), "--backend", "ort", "--json", "-q"]
    if lib:
        args += ["--ort-lib", lib]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return row["median_ms"], row["median_ms_corrected"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--frontier", required=True)
    ap.add_argument("--loop", required=True, help="the naive_loop example binary")
    ap.add_argument("--ort-lib", default=None)
    ap.add_argument("--alternations", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=1)
    a = ap.parse_args()
    os.sched_setaffinity(0, {a.cpu})  # children inherit it
    models = []
    for m in a.models:
        p = pathlib.Path(m)
        models += sorted(p.glob("*.onnx")) if p.is_dir() else [p]
    arms = ["python", "python-io", "c-loop", "frontier"]
    res = {m: {k: [] for k in ["python", "python-io", "c-loop", "frontier", "frontier-corr"]} for m in models}
    for alt in range(a.alternations):
        for k, m in enumerate(models):
            rot = (alt + k) % len(arms)
            for arm in arms[rot:] + arms[:rot]:
                if arm == "python":
                    res[m]["python"].append(python_plain(m))
                elif arm == "python-io":
                    res[m]["python-io"].append(python_iobinding(m))
                elif arm == "c-loop":
                    res[m]["c-loop"].append(c_loop(a.loop, m, a.ort_lib))
                else:
                    raw, corr = frontier(a.frontier, m, a.ort_lib)
                    res[m]["frontier"].append(raw)
                    res[m]["frontier-corr"].append(corr)
        print(f"alternation {alt + 1}/{a.alternations} done", file=sys.stderr)
    cols = ["python-io", "c-loop", "frontier", "frontier-corr"]
    print(f"onnxruntime {ort.__version__}, 1 thread, pinned to CPU {a.cpu}, {a.alternations} alternations; ratios to `python` (paired, median over alternations)")
    print(f"| model | python ms | " + " | ".join(f"{c} / python" for c in cols) + " | frontier / c-loop |")
    print("| --- | --- | " + " | ".join("---" for _ in cols) + " | --- |")
    summary = {c: [] for c in cols + ["frontier/c-loop"]}
    for m in models:
        r = res[m]
        cells = []
        for c in cols:
            x = statistics.median(v / p for v, p in zip(r[c], r["python"]))
            summary[c].append(x)
            cells.append(f"{x:.3f}")
        fc = statistics.median(v / p for v, p in zip(r["frontier"], r["c-loop"]))
        summary["frontier/c-loop"].append(fc)
        print(f"| {m.stem} | {statistics.median(r['python']):.3f} | " + " | ".join(cells) + f" | {fc:.3f} |")
    print("| **median (range)** | | " + " | ".join(
        f"{statistics.median(summary[c]):.3f} ({min(summary[c]):.3f}-{max(summary[c]):.3f})" for c in cols)
        + f" | {statistics.median(summary['frontier/c-loop']):.3f} ({min(summary['frontier/c-loop']):.3f}-{max(summary['frontier/c-loop']):.3f}) |")


if __name__ == "__main__":
    main()
