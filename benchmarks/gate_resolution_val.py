"""Does a 32² gate learn as well as the default 64² one? (issue 14 item 1, a measured model change)

Trains action fusion with the default recipe's gate (``agents/action_fusion.yaml``: channels
16-32-32, 4 CondConv experts) at ``gate.resolution`` 64 and 32 on the ``tiny`` suite with the
budget of ``tests/test_train_tiny.py``'s default run (180 iterations, batch 96, lr 3e-3, DAgger from
iteration 90, random quarter turns, the zoo's depth_zbuffer / normal / segment_semantic /
class_object), training seeds 0 and 1, and scores success on the suite's **val** split (never
test) with the fixed episodes and sampling seed of the tests. Also prints each run's training CPU
seconds (one thread).

    python benchmarks/gate_resolution_val.py [--suite tiny] [--seeds 0 1] [--resolutions 64 32]
        [--val-episodes 400] [--json out.json]

``tiny``'s val split is one scene; ``--suite quickstart`` trains on its 4 train scenes and scores on
its 8 val scenes (the suite the quickstart recipe uses).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from navfusion.agents import load_agent_config
from navfusion.train import checkpoint as ckpt
from navfusion.train.data import load_split
from navfusion.train.imitation import TrainConfig, build_agent, train_imitation
from navfusion.train.rollout import evaluate
from navfusion.train.speed import tune_allocator

ENCODERS = ["depth_zbuffer", "normal", "segment_semantic", "class_object"]


def agent_config(resolution: int):
    """The shipped action-fusion recipe with the tiny test's four encoders and the given gate size."""
    raw = {"kind": "action_fusion", "encoders": ENCODERS, "gate": {"resolution": resolution}}
    return load_agent_config(raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--iterations", type=int, default=180)
    ap.add_argument("--batch-size", type=int, default=96)
    ap.add_argument("--suite", default="tiny", help="suite whose train split trains and val split scores")
    ap.add_argument("--val-episodes", type=int, default=400, help="fixed episodes per val scene")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tune_allocator()
    rows = []
    for res in args.resolutions:
        train = load_split(args.suite, "train", ENCODERS, res, episodes_per_scene=100)
        val = load_split(args.suite, "val", ENCODERS, res, episodes_per_scene=args.val_episodes)
        for seed in args.seeds:
            it = args.iterations
            cfg = TrainConfig(iterations=it, batch_size=args.batch_size, lr=3e-3, seed=seed, eval_every=0,
                              dagger_start=it // 2, dagger_every=max(1, it // 4), dagger_episodes=64,
                              checkpoint_every=it, view_rotation=2, threads=1)
            with tempfile.TemporaryDirectory() as tmp:
                c0, w0 = time.process_time(), time.perf_counter()
                train_imitation(agent_config(res), cfg, tmp, train, None, progress=False)
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                agent = build_agent(agent_config(res), train, 0)
                ckpt.load_weights(Path(tmp) / "checkpoints" / "last.safetensors", agent)
            ev_val, ev_train = evaluate(agent, val, seed=0), evaluate(agent, train, seed=0)
            row = {"suite": args.suite, "gate_resolution": res, "seed": seed, "val_success": ev_val.success,
                   "val_spl": ev_val.spl,
                   "train_success": ev_train.success, "train_cpu_s": round(cpu, 1), "train_wall_s": round(wall, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    rnd = evaluate(build_agent(load_agent_config("random"), val, 0), val, seed=0).success
    print(json.dumps({"random_val_success": rnd}), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "random_val_success": rnd}, indent=1))


if __name__ == "__main__":
    main()
