"""``navfusion bench vecenv`` and ``navfusion bench train-device``."""

from __future__ import annotations

import argparse
import json

from navfusion.errors import NavFusionError
from navfusion.markdown import markdown_table


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    b = bench.add_parser("vecenv", help="vectorised env steps/s vs number of workers (sync vs async)")
    b.add_argument("--env", default="NavFusion/OctoNav-tiny-v0")
    b.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    b.add_argument("--steps", type=int, default=200, help="timed vector steps per measurement")
    b.add_argument("--resolution", type=int, default=64)
    b.add_argument("--modes", nargs="+", default=["sync", "async"], choices=["sync", "async"])
    b.add_argument("--views", default="cached", choices=["cached", "live"],
                   help="cached: view lookups (cheap steps); live: render the 8 views every step")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_vecenv)

    b = bench.add_parser("train-device", help="imitation iterations/s on a device (fp32 vs bf16, tables on "
                                              "the device vs pinned host memory)")
    b.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    b.add_argument("--experts", type=int, default=25)
    b.add_argument("--batch-size", type=int, default=256)
    b.add_argument("--iterations", type=int, default=20)
    b.add_argument("--gate-resolution", type=int, default=64)
    b.add_argument("--agent", default="action_fusion")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_train_device)


def _vecenv(args: argparse.Namespace) -> int:
    from navfusion.cli.bench.parallel import bench_vecenv

    if min(args.workers) < 1 or args.steps < 1:
        raise NavFusionError("--workers and --steps must be >= 1")
    res = bench_vecenv(args.env, tuple(args.workers), args.steps, args.resolution, tuple(args.modes),
                       views=args.views)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['env']} at {res['resolution']}², views {args.views}, {res['steps']} vector steps, "
          f"{res['cpu_count']} CPUs")
    print(markdown_table(["vectorization", "envs", "env steps/s", "startup (s)"],
                         [[r["vectorization"], r["num_envs"], f"{r['steps_per_s']:.0f}", f"{r['startup_s']:.1f}"]
                          for r in res["rows"]]))
    return 0


def _train_device(args: argparse.Namespace) -> int:
    from navfusion.cli.bench.parallel import bench_train_device

    res = bench_train_device(args.device, args.experts, args.batch_size, args.iterations, args.gate_resolution,
                             args.agent)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['agent']} K={res['experts']} batch {res['batch_size']} on {res['device_name']} ({res['device']})")
    print(markdown_table(["autocast", "lookup tables", "it/s", "ms/it"],
                         [[r["amp"], r["tables"], f"{r['iterations_per_s']:.2f}", f"{r['ms_per_iteration']:.1f}"]
                          for r in res["rows"]]))
    return 0
