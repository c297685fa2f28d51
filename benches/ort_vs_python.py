#!/usr/bin/env python3
"""Agreement of `frontier profile --backend ort` with the reference
implementation: the `onnxruntime` Python package (same version, same thread
and optimization settings) timing the same models, interleaved in one run.

    python3 benches/ort_vs_python.py [--rounds 5] [--time 1.0] [--frontier BIN] MODEL_OR_DIR...

Each round visits every model in a rotated order and measures it twice,
back to back: once with a plain Python loop over `InferenceSession.run`
(after a warm-up), once with one `frontier profile` invocation. The machine's
drift therefore hits both alike; the figure per model is the median over
rounds of each side's median, and the ratio is the median over rounds of the
paired ratio frontier / python (pairing cancels drift slower than a round).

Needs `pip install onnxruntime==1.32.0 numpy` (scripts/fetch-onnxruntime.sh
installs the same library version for frontier).
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def inputs_for(sess, seq_len):
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else (1 if k == 0 else seq_len) for k, d in enumerate(i.shape)]
        dt = DTYPES[i.type]
        if np.issubdtype(dt, np.integer):
            feeds[i.name] = rng.integers(0, 1000, size=shape, dtype=dt)
        else:
            feeds[i.name] = rng.random(size=shape, dtype=np.float32).astype(dt)
    return feeds


def python_median(path, seconds, threads, seq_len):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = inputs_for(sess, seq_len)
    end = time.perf_counter() + 0.2
    n = 0
    while n < 5 or time.perf_counter() < end:
        sess.run(None, feeds)
        n += 1
    times = []
    end = time.perf_counter() + seconds
    while len(times) < 10 or time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        sess.run(None, feeds)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def frontier_median(binary, path, seconds, threads, seq_len, ort_lib):
    args = [
        binary, "profile", str(path), "--backend", "ort", "--threads", str(threads),
        "--min-time", f"{seconds}s", "--max-time", f"{2 * seconds}s", "--rounds", "1",
        "--probe-ref", "off", "--json", "-q",
    ]
    if "gpt2" in path.name:
        args += ["--input", f"1,{seq_len}"]
    if ort_lib:
        args += ["--ort-lib", ort_lib]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return row["median_ms"], row["backend_version"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--time", type=float, default=1.0, help="seconds per measurement")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--frontier", default="target/release/frontier")
    ap.add_argument("--ort-lib", default=None)
    a = ap.parse_args()
    models = []
    for m in a.models:
        p = pathlib.Path(m)
        models += sorted(p.rglob("*.onnx")) if p.is_dir() else [p]
    py = {m: [] for m in models}
    fr = {m: [] for m in models}
    version = None
    for r in range(a.rounds):
        order = models[r % len(models):] + models[: r % len(models)]
        for m in order:
            # Alternate which side goes first, so neither always follows the other.
            if (r + models.index(m)) % 2 == 0:
                py[m].append(python_median(m, a.time, a.threads, a.seq_len))
                v, version = frontier_median(a.frontier, m, a.time, a.threads, a.seq_len, a.ort_lib)
                fr[m].append(v)
            else:
                v, version = frontier_median(a.frontier, m, a.time, a.threads, a.seq_len, a.ort_lib)
                fr[m].append(v)
                py[m].append(python_median(m, a.time, a.threads, a.seq_len))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"onnxruntime (python) {ort.__version__}, frontier ort backend {version}, "
          f"{a.threads} thread(s), {a.rounds} rounds x {a.time} s per side")
    print(f"{'model':<44} {'python ms':>10} {'frontier ms':>12} {'ratio':>7}  round ratios (min-max)")
    ratios = []
    for m in models:
        p, f = statistics.median(py[m]), statistics.median(fr[m])
        rr = [x / y for x, y in zip(fr[m], py[m])]
        ratio = statistics.median(rr)
        ratios.append(ratio)
        print(f"{m.name:<44} {p:>10.3f} {f:>12.3f} {ratio:>7.3f}  {min(rr):.3f}-{max(rr):.3f}")
    within = sum(1 for x in ratios if abs(x - 1) <= 0.03)
    print(f"within 3%: {within}/{len(ratios)}; ratio median {statistics.median(ratios):.3f}, "
          f"range {min(ratios):.3f}-{max(ratios):.3f}")


if __name__ == "__main__":
    main()
