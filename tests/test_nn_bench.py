"""`navfusion bench nn` wiring and its FLOP accounting (the benchmark itself is not run here)."""

from __future__ import annotations

import time

import pytest
import torch

from navfusion.cli import build_parser
from navfusion.cli.bench.nn import BenchConfig, interleaved, nav_expert_flops
from navfusion.nn import NavExpert


def test_bench_nn_is_registered_with_json_flag():
    args = build_parser().parse_args(["bench", "nn", "--json", "--quick"])
    assert args.json and args.quick and callable(args.func)
    with pytest.raises(ValueError, match="repeats"):
        BenchConfig(repeats=0)


def test_nav_expert_flops_match_a_hand_count():
    e = NavExpert(channels=2, height=3, width=3, views=8, view_dim=4, hidden=5)
    f = nav_expert_flops(e, batch=2, view_dim=4, hidden=5)
    conv, fuse, head = 2 * 2 * 8 * 18 * 4, 2 * 2 * (8 * 4 + 4) * 5, 2 * 2 * 5 * 9
    assert f["forward"] == conv + fuse + head
    assert f["train"] == 2 * conv + 3 * (fuse + head)  # no input gradient for the first layer


def test_interleaved_returns_a_median_per_variant():
    calls = {"a": 0, "b": 0}

    def a() -> None:
        calls["a"] += 1

    def b() -> None:
        calls["b"] += 1
        time.sleep(0.002)

    t = interleaved({"a": a, "b": b}, repeats=3, device=torch.device("cpu"), min_time=0.004)
    assert set(t) == {"a", "b"} and t["b"] > t["a"] and calls["b"] >= 3
