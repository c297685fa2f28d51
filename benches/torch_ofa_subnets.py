#!/usr/bin/env python3
"""Export an evaluation set of real Once-for-All subnets with PyTorch.

    python benches/torch_ofa_subnets.py OUT_DIR [N] [SEED]

Needs `torch` and the public `ofa` package (benches/predictor.sh installs
them into a venv outside the checkout). Builds the reference package's
`OFAMobileNetV3(ks_list=[3,5,7], expand_ratio_list=[3,4,6],
depth_list=[2,3,4])` with its own random initialization (latency does not
depend on the weights' values), draws N architectures uniformly (every
kernel, expand ratio, depth and resolution 128..224 step 4 independent, as
`sample_active_subnet`), takes `get_active_subnet(preserve_weight=True)` in
eval mode and exports it with the TorchScript exporter at opset 13 (BatchNorm
folded), input `input` [1, 3, r, r]. Writes OUT_DIR/torch_NN_rR.onnx and
OUT_DIR/index.json ({"models": [{"file", "config"}]}, the fixtures' layout)
and OUT_DIR/manifest.jsonl (`file`, `space`, `arch` per line), so that
`frontier profile OUT_DIR` records each row's arch and measures the space's
reference subnets beside them.
Never commit the output: it comes from elsewhere and is rebuilt by this script.
"""

import json
import os
import random
import sys
import warnings

import torch
from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3

warnings.filterwarnings("ignore")


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    net = OFAMobileNetV3(
        n_classes=1000, dropout_rate=0, width_mult=1.0,
        ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4],
    )
    models = []
    for i in range(n):
        cfg = {
            "ks": [rng.choice([3, 5, 7]) for _ in range(20)],
            "e": [rng.choice([3, 4, 6]) for _ in range(20)],
            "d": [rng.choice([2, 3, 4]) for _ in range(5)],
            "r": rng.choice(range(128, 225, 4)),
        }
        net.set_active_subnet(ks=cfg["ks"], e=cfg["e"], d=cfg["d"])
        sub = net.get_active_subnet(preserve_weight=True).eval()
        r = cfg["r"]
        name = f"torch_{i:02d}_r{r}.onnx"
        with torch.no_grad():
            torch.onnx.export(
                sub, torch.randn(1, 3, r, r), os.path.join(out, name),
                opset_version=13, dynamo=False,
                input_names=["input"], output_names=["output"],
            )
        models.append({"file": name, "config": cfg, "input": {"input": [1, 3, r, r]},
                       "exporter": "torchscript opset 13"})
        print(f"{name}: d={cfg['d']}", file=sys.stderr)
    with open(os.path.join(out, "manifest.jsonl"), "w") as f:
        for m in models:
            arch = {k: m["config"][k] for k in ("ks", "e", "d", "r")}
            f.write(json.dumps({"file": m["file"], "space": "ofa-mbv3", "arch": arch}) + "\n")
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"source": "ofa package OFAMobileNetV3 subnets, random weights",
                   "torch": torch.__version__, "seed": seed, "models": models}, f, indent=1)


if __name__ == "__main__":
    main()
