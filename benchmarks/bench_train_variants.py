"""Action fusion (K = 25, batch 256) training step: today's default vs the CondConv choice, bf16 and a
32² gate, measured side by side in one run (issue 14 item 1).

Variants, alternated round by round in ONE process (allocator tuned, one thread, the same
synthetic lookup tables as ``navfusion bench train``):

- ``grouped``: the gate's CondConv layers all on the grouped trick (the code path before the
  per-layer choice; ``MOE_MAX_OUTPUT_PIXELS = 0``), gate 64²;
- ``default``: this tree, gate 64² (the second CondConv layer takes the MoE form);
- ``default+bf16``, ``gate32``, ``gate32+bf16``: the opt-in bf16 autocast and the model change
  ``gate.resolution: 32``.

Optionally (``--baseline REV``) the baseline commit in subprocesses each round: once for wall
clock, once with its clock swapped for CPU time.
Prints per variant the median CPU ms per step (``time.process_time``: the steady figure on a
shared machine) and iterations/s, and the ratios to ``default``.

    python benchmarks/bench_train_variants.py [--rounds 2] [--iterations 3] [--baseline 6be6f04] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

import navfusion.cli.bench.train as tb
import navfusion.nn.condconv_functional as cf
from navfusion.cli.bench.train import BASELINE_REV, _run_one, bench_train, export_tree

#: the baseline's own bench_train with its clock swapped for CPU time (one thread): its
#: ms_per_iteration is then CPU ms per step, comparable with this tree's cpu_ms_per_iteration
_CPU_RUNNER = "import time; time.perf_counter = time.process_time\n" + tb._RUNNER

VARIANTS = {  # name: (gate resolution, amp, moe max output pixels)
    "grouped": (64, "off", 0),
    "default": (64, "off", None),
    "default+bf16": (64, "bf16", None),
    "gate32": (32, "off", None),
    "gate32+bf16": (32, "bf16", None),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--baseline", default=None, help=f"also time this revision (e.g. {BASELINE_REV})")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    default_px = cf.MOE_MAX_OUTPUT_PIXELS
    runs: dict[str, list[dict]] = {v: [] for v in args.variants}
    load0, t0 = os.getloadavg(), time.time()
    base_tree = None
    if args.baseline:
        import subprocess
        import tempfile

        repo = Path(__file__).resolve().parents[1]
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", args.baseline], capture_output=True, text=True,
                             check=True).stdout.strip()
        base_tree = export_tree(sha, Path(tempfile.mkdtemp(prefix="navfusion-baseline-")) / "tree", repo)
        runs["baseline"] = []
    for _ in range(args.rounds):
        if base_tree is not None:
            a = {"agent": "action_fusion", "experts": 25, "batch_size": args.batch_size,
                 "iterations": args.iterations, "gate_resolution": 64, "threads": 1, "amp": "off"}
            r = _run_one(base_tree, a, 1800.0)
            runner, tb._RUNNER = tb._RUNNER, _CPU_RUNNER
            try:
                r["cpu_ms_per_iteration"] = _run_one(base_tree, a, 1800.0)["ms_per_iteration"]
            finally:
                tb._RUNNER = runner
            runs["baseline"].append(r)
            print("baseline", round(r["cpu_ms_per_iteration"]), "cpu ms/it", round(r["iterations_per_s"], 3), "it/s",
                  flush=True)
        for name in args.variants:
            res, amp, px = VARIANTS[name]
            cf.MOE_MAX_OUTPUT_PIXELS = default_px if px is None else px
            try:
                r = bench_train("action_fusion", 25, args.batch_size, args.iterations, res, threads=1, amp=amp)
            finally:
                cf.MOE_MAX_OUTPUT_PIXELS = default_px
            runs[name].append(r)
            print(name, round(r["cpu_ms_per_iteration"]), "cpu ms/it", round(r["iterations_per_s"], 3), "it/s",
                  flush=True)
    rows = {}
    for name, rs in runs.items():
        its = statistics.median(r["iterations_per_s"] for r in rs)
        cpu = [r["cpu_ms_per_iteration"] for r in rs if "cpu_ms_per_iteration" in r]
        rows[name] = {"it_per_s": round(its, 3), "cpu_ms_per_iteration": round(statistics.median(cpu)) if cpu else None}
    ref = rows.get("default") or next(iter(rows.values()))
    for r in rows.values():
        r["it_per_s_vs_default"] = round(r["it_per_s"] / ref["it_per_s"], 2)
        if r["cpu_ms_per_iteration"]:
            r["cpu_speedup_vs_default"] = round(ref["cpu_ms_per_iteration"] / r["cpu_ms_per_iteration"], 2)
    out = {"rows": rows, "rounds": args.rounds, "iterations": args.iterations, "batch_size": args.batch_size,
           "threads": 1, "loadavg_start": load0, "loadavg_end": os.getloadavg(), "seconds": round(time.time() - t0)}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
