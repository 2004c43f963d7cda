"""The RGB gate's CondConv layers, one method against another (issue 14 item 1): forward + backward
CPU time per layer shape, one thread, B = 2,048 images (8 views × batch 256), K = 4, 3×3 stride 2.

Methods: ``grouped`` (batch folded into the groups), ``bmm`` (unfold + batched matmul), ``moe``
(the mixture-of-experts form: one dense conv with the K kernels + weighted sum; what
``impl="auto"`` picks for output maps of <= ``MOE_MAX_OUTPUT_PIXELS`` pixels). Also the largest
relative difference of output and gradients to the grouped form.

    python benchmarks/bench_gate_condconv.py [--repeats 4]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from navfusion.nn.condconv_functional import condconv2d
from navfusion.train.speed import tune_allocator

#: gate resolution : layer → (C_in, C_out, input side) with the default gate (16-32-32, stem stride 4)
SHAPES = {"64:L1": (16, 32, 16), "64:L2": (32, 32, 8), "32:L1": (16, 32, 8), "32:L2": (32, 32, 4)}
METHODS = {m: (lambda *a, m=m: condconv2d(*a, impl=m)) for m in ("grouped", "bmm", "moe")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2048)
    args = ap.parse_args()
    tune_allocator()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    k, out = 4, {}
    for name, (ci, co, hw) in SHAPES.items():
        x = torch.relu(torch.randn(args.batch, ci, hw, hw, generator=g)).requires_grad_()
        w = torch.randn(k, co, ci, 3, 3, generator=g).mul_(0.1).requires_grad_()
        bias = torch.randn(k, co, generator=g).requires_grad_()
        logits = torch.randn(args.batch, k, generator=g).requires_grad_()
        gy = torch.randn(args.batch, co, hw // 2, hw // 2, generator=g)
        row, ref = {}, None
        for m, fn in METHODS.items():
            times = []
            for _ in range(args.repeats + 1):  # the first is a warm-up
                for t in (x, w, bias, logits):
                    t.grad = None
                c0 = time.process_time()
                fn(x, w, bias, torch.sigmoid(logits), 2, 1).backward(gy)
                times.append(time.process_time() - c0)
            with torch.no_grad():
                y = fn(x, w, bias, torch.sigmoid(logits), 2, 1)
            got = [y] + [t.grad.clone() for t in (x, w, bias, logits)]
            ref = ref or got
            err = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(got, ref, strict=True))
            row[m] = {"ms": round(1000 * min(times[1:])), "max_rel_diff": float(f"{err:.1e}")}
        out[name] = row
        print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
