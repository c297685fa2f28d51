#!/usr/bin/env python3
"""Convert a Once-for-All MobileNetV3 supernet checkpoint to the safetensors
file `frontier export/search/serve --weights` read.

usage: convert_supernet.py CHECKPOINT.pth OUT.safetensors [--ks 3,5,7] [--e 3,4,6] [--d 2,3,4] [--width 1.0] [--half]

CHECKPOINT is what the `ofa` package's training saves (a dict with
`state_dict`, or the state dict itself). Needs torch, ofa and safetensors
(`pip install torch ofa safetensors`). The tensors keep the package's own
names; `num_batches_tracked` counters are dropped; `--half` stores float16
(Frontier converts to float32 when it reads).
"""
import argparse

import torch
from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
from safetensors.torch import save_file


def ints(text):
    return [int(x) for x in text.split(",")]


p = argparse.ArgumentParser()
p.add_argument("checkpoint")
p.add_argument("out")
p.add_argument("--ks", type=ints, default=[3, 5, 7])
p.add_argument("--e", type=ints, default=[3, 4, 6])
p.add_argument("--d", type=ints, default=[2, 3, 4])
p.add_argument("--width", type=float, default=1.0)
p.add_argument("--half", action="store_true")
a = p.parse_args()

net = OFAMobileNetV3(ks_list=a.ks, expand_ratio_list=a.e, depth_list=a.d, width_mult=a.width)
ckpt = torch.load(a.checkpoint, map_location="cpu")
net.load_state_dict(ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt)
state = {
    k: (v.half() if a.half else v.float()).contiguous()
    for k, v in net.state_dict().items()
    if v.is_floating_point()
}
save_file(state, a.out, metadata={"source": f"OFAMobileNetV3(ks_list={a.ks}, expand_ratio_list={a.e}, depth_list={a.d}, width_mult={a.width})"})
print(f"wrote {a.out}: {len(state)} tensors")
