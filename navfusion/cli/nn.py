"""``navfusion bench nn``: speed of CondConv2d, its MoE form and the ExpertBank."""

from __future__ import annotations

import argparse
import json

from navfusion.errors import ConfigError


def _run(args: argparse.Namespace) -> int:
    from navfusion.cli.bench.nn import BenchConfig, format_summary, run_all

    try:
        cfg = BenchConfig(quick=args.quick, repeats=args.repeats, device=args.device, threads=args.threads)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--device {cfg.device}: CUDA is not available here")
    res = run_all(cfg)
    print(json.dumps(res, indent=2) if args.json else format_summary(res))
    return 0


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    """Add ``navfusion bench nn``."""
    p = bench.add_parser("nn", help="CondConv2d vs MoE form vs loop; ExpertBank vs loop; matmul peak fraction")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="K in {1, 8} only and 3 repeats (smoke run)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats per variant (median taken)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.set_defaults(func=_run)
