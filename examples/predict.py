#!/usr/bin/env python3
"""Call a Frontier latency predictor from Python, as a NAS search would.

`frontier train ... --onnx predictor.onnx` writes the predictor as an ONNX
model. It needs only `onnxruntime` and `numpy` here: no Frontier, no Rust.

    python3 examples/predict.py predictor.onnx --archs archs.jsonl [--json]
    python3 examples/predict.py predictor.onnx --search 20000 --max-ms 12

The model's input is the space's encoding, one row per architecture
(`encode_ofa` / `encode_gpt2` below, the same as Frontier's `encode()`);
its outputs are `latency_ms` [batch], `interval_ms` [batch, 2] (the same
interval as `frontier predict`) and `features` [batch, F]. Its metadata says
which space, device, backend and thread count it predicts for. An
architecture whose blocks are missing from a `lut`/`hybrid` predictor's
block table gets NaN (Frontier refuses to predict it).

With `--search N`, a minimal random search: sample N architectures, predict
them in one batch, and print the Pareto frontier of (MACs, latency) under
`--max-ms`, the way a search loop would use the predictor as its latency
objective.
"""

import argparse
import json
import random
import sys
import time

import numpy as np
import onnxruntime as ort

# Once-for-All MobileNetV3 space (frontier_spaces::ofa_mbv3).
OFA_KERNELS = [3, 5, 7]
OFA_EXPANDS = [3, 4, 6]
OFA_DEPTHS = [2, 3, 4]
OFA_STAGES, OFA_MAX_DEPTH = 5, 4
OFA_RESOLUTIONS = list(range(128, 225, 4))
OFA_ENCODING_LEN = 2 * OFA_STAGES * OFA_MAX_DEPTH * 3 + OFA_STAGES * 3 + len(OFA_RESOLUTIONS)

# GPT-2 space (frontier_spaces::gpt2).
GPT2_MAX_LAYERS = 24
GPT2_ENCODING_LEN = 7 + 2 * GPT2_MAX_LAYERS + 2


def encode_ofa(arch):
    """{"ks": [20], "e": [20], "d": [5], "r": int} -> 160 floats: one-hot
    kernel per block slot, one-hot expand ratio per slot (both all zero for
    slots beyond the stage's depth), one-hot depth per stage, one-hot
    resolution. Raises ValueError naming the field that is out of the space."""
    slots = OFA_STAGES * OFA_MAX_DEPTH
    for name, n, choices in (("ks", slots, OFA_KERNELS), ("e", slots, OFA_EXPANDS), ("d", OFA_STAGES, OFA_DEPTHS)):
        v = arch.get(name)
        if not isinstance(v, list) or len(v) != n:
            raise ValueError(f"ofa-mbv3 arch: field `{name}` must have {n} entries")
        for i, x in enumerate(v):
            if x not in choices:
                raise ValueError(f"ofa-mbv3 arch: field `{name}[{i}]` is {x}; allowed: {choices}")
    if arch.get("r") not in OFA_RESOLUTIONS:
        raise ValueError(f"ofa-mbv3 arch: field `r` is {arch.get('r')}; allowed: 128 to 224 in steps of 4")
    v = np.zeros(OFA_ENCODING_LEN, dtype=np.float32)
    for s in range(OFA_STAGES):
        for j in range(arch["d"][s]):
            i = s * OFA_MAX_DEPTH + j
            v[i * 3 + OFA_KERNELS.index(arch["ks"][i])] = 1.0
            v[slots * 3 + i * 3 + OFA_EXPANDS.index(arch["e"][i])] = 1.0
        v[slots * 6 + s * 3 + OFA_DEPTHS.index(arch["d"][s])] = 1.0
    v[slots * 6 + OFA_STAGES * 3 + OFA_RESOLUTIONS.index(arch["r"])] = 1.0
    return v


def encode_gpt2(arch):
    """{"n_layer", "d_model", "n_head", "d_inner", "vocab_size", "n_positions",
    "seq_len"} -> 57 floats. The predictor reads n_layer, d_model, seq_len and
    the per-layer heads and widths; the last two entries (parameters and MACs,
    LTS's proxies in Frontier's encode()) are left 0 here."""
    n = arch["n_layer"]
    if not 1 <= n <= GPT2_MAX_LAYERS:
        raise ValueError(f"gpt2 arch: field `n_layer` is {n}; allowed: 1 to {GPT2_MAX_LAYERS}")

    def per_layer(name):
        x = arch[name]
        x = [x] * n if isinstance(x, int) else list(x)
        if len(x) != n:
            raise ValueError(f"gpt2 arch: field `{name}` has {len(x)} entries; allowed: one int or n_layer ({n})")
        return x

    heads, inners = per_layer("n_head"), per_layer("d_inner")
    v = np.zeros(GPT2_ENCODING_LEN, dtype=np.float32)
    v[:7] = [n, arch["d_model"], arch["vocab_size"], arch["n_positions"], arch["seq_len"],
             sum(heads) / n, sum(inners) / n]
    v[7:7 + n] = heads
    v[7 + GPT2_MAX_LAYERS:7 + GPT2_MAX_LAYERS + n] = inners
    return v


ENCODERS = {"ofa-mbv3": encode_ofa, "gpt2": encode_gpt2}


class LatencyPredictor:
    """One device's latency predictor: predict(archs) -> (ms, lo, hi) arrays."""

    def __init__(self, path, threads=1):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.meta = self.session.get_modelmeta().custom_metadata_map
        self.space = self.meta.get("frontier_space")
        if self.space not in ENCODERS:
            raise ValueError(f"{path}: not a Frontier predictor (metadata frontier_space={self.space!r}); "
                             "fix: write one with `frontier train ... --onnx FILE`")
        self.encode = ENCODERS[self.space]

    def device(self):
        m = self.meta
        return f"{m.get('frontier_device_id')}/{m.get('frontier_backend')}/t{m.get('frontier_threads')}"

    def predict(self, archs):
        x = np.stack([self.encode(a) for a in archs])
        ms, interval, _features = self.session.run(["latency_ms", "interval_ms", "features"], {"encoding": x})
        return ms, interval[:, 0], interval[:, 1]


def read_archs(path):
    """One {"arch": ...} per line (a manifest line works too; `arch` may be a
    JSON string, as in Frontier's tables)."""
    archs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            arch = json.loads(line).get("arch")
            if arch is None:
                raise ValueError(f"{path}:{n}: no `arch` field")
            archs.append(json.loads(arch) if isinstance(arch, str) else arch)
    return archs


def sample_ofa(rng):
    slots = OFA_STAGES * OFA_MAX_DEPTH
    return {
        "ks": [rng.choice(OFA_KERNELS) for _ in range(slots)],
        "e": [rng.choice(OFA_EXPANDS) for _ in range(slots)],
        "d": [rng.choice(OFA_DEPTHS) for _ in range(OFA_STAGES)],
        "r": rng.choice(OFA_RESOLUTIONS),
    }


def search(pred, n, max_ms, seed):
    """Random search with the predictor as the latency objective and the
    features' MAC count as a stand-in accuracy proxy (plug in your own)."""
    if pred.space != "ofa-mbv3":
        raise SystemExit("--search samples ofa-mbv3 architectures; this predictor is for " + pred.space)
    rng = random.Random(seed)
    archs = [sample_ofa(rng) for _ in range(n)]
    x = np.stack([encode_ofa(a) for a in archs])
    t0 = time.perf_counter()
    ms, interval, features = pred.session.run(["latency_ms", "interval_ms", "features"], {"encoding": x})
    dt = time.perf_counter() - t0
    names = pred.meta["frontier_features"].split(",")
    macs = features[:, [i for i, f in enumerate(names) if f.endswith("_macs") and f != "pointwise_macs_small_maps"]].sum(axis=1)
    print(f"{n} predictions in {dt * 1e3:.1f} ms ({n / dt:,.0f}/s) on {pred.device()}", file=sys.stderr)
    # Pareto frontier: more MACs (proxy accuracy) for less latency, within the budget.
    order = np.argsort(ms)
    best = -1.0
    for i in order:
        if interval[i, 1] > max_ms:
            break
        if macs[i] > best:
            best = macs[i]
            print(json.dumps({"arch": archs[i], "predicted_ms": float(ms[i]),
                              "interval_ms": [float(interval[i, 0]), float(interval[i, 1])],
                              "mmacs": float(macs[i])}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("predictor", help="ONNX file written by `frontier train --onnx`")
    ap.add_argument("--archs", help="JSONL with one {\"arch\": ...} per line")
    ap.add_argument("--json", action="store_true", help="one JSON line per arch, as `frontier predict --json`")
    ap.add_argument("--search", type=int, metavar="N", help="random search over N sampled architectures")
    ap.add_argument("--max-ms", type=float, default=float("inf"), help="latency budget of --search (upper interval bound)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pred = LatencyPredictor(args.predictor)
    if args.search:
        search(pred, args.search, args.max_ms, args.seed)
        return
    if not args.archs:
        ap.error("give --archs FILE or --search N")
    archs = read_archs(args.archs)
    ms, lo, hi = pred.predict(archs)
    for a, p, l, h in zip(archs, ms, lo, hi):
        if args.json:
            print(json.dumps({"arch": a, "predicted_ms": float(p), "interval_ms": [float(l), float(h)]}))
        else:
            print(f"{p:9.3f} ms  [{l:.3f}, {h:.3f}]")


if __name__ == "__main__":
    main()
