"""The training fast paths compute what their reference paths compute (outputs and gradients), bf16
autocast works through them and still learns, and the throughput bench reports all four agents."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from navfusion.agents.config import ExpertConfig, GateConfig
from navfusion.agents.experts import ExpertPolicy, make_bank
from navfusion.agents.gate import Gate
from navfusion.cli import main


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    """Equal to ``tol`` relative to the larger magnitude (sums of many float32 products)."""
    a, b = a.detach(), b.detach()
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) <= tol * scale


def _grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("resolution,dtype", [(64, torch.uint8), (16, torch.uint8), (16, torch.float32)])
def test_gate_fused_input_equals_reference(resolution, dtype):
    torch.manual_seed(0)
    gate = Gate(GateConfig(resolution=resolution), num_experts=5, num_targets=4, resolution=resolution)
    torch.nn.init.normal_(gate.mlp[-1].weight)  # non-zero last layer: gradients reach the trunk
    g = torch.Generator().manual_seed(1)
    rgb = torch.randint(0, 256, (3, 8, resolution, resolution, 3), generator=g).to(dtype)
    onehot = torch.eye(4)[[0, 2, 3]]
    mask = torch.tensor([True, False, True, True, True])
    out = {}
    for fused in (False, True):
        gate.fused_input = fused
        gate.zero_grad()
        w = gate(rgb, onehot, mask)
        (w * torch.arange(5.0)).sum().backward()
        out[fused] = (w.detach(), _grads(gate))
    assert _close(out[True][0], out[False][0])
    assert out[True][1].keys() == out[False][1].keys() and "trunk.0.weight" in out[True][1]
    for name, ref in out[False][1].items():
        assert _close(out[True][1][name], ref), name


def test_gate_falls_back_to_reference_when_views_need_resizing():
    torch.manual_seed(0)
    gate = Gate(GateConfig(resolution=16), num_experts=3, num_targets=4, resolution=16)
    rgb = torch.randint(0, 256, (2, 8, 32, 32, 3), dtype=torch.uint8)
    onehot = torch.eye(4)[:2]
    fused = gate(rgb, onehot)
    gate.fused_input = False
    assert torch.equal(fused, gate(rgb, onehot))  # the same (reference) path ran twice


@pytest.mark.parametrize("policy,head,free_space", [("direction", True, False), ("direction", True, True),
                                                     ("direction", False, False), ("flat", True, True),
                                                     ("flat", False, False)])
def test_expert_bank_stacked_equals_loop(policy, head, free_space):
    cfg = ExpertConfig(policy=policy, free_space=free_space, hidden=32)
    torch.manual_seed(0)
    bank = make_bank(lambda: ExpertPolicy(cfg, 4, head=head), 6)
    assert bank.mode == "stacked"
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 6, 8, 8, 8, 8, generator=g)
    onehot = torch.eye(4)[torch.randint(0, 4, (10,), generator=g)]
    res = {}
    for mode in ("loop", "stacked"):
        bank.mode = mode
        bank.zero_grad()
        y = bank(x, onehot)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        res[mode] = (y.detach(), _grads(bank))
    assert res["stacked"][0].shape == res["loop"][0].shape
    assert _close(res["stacked"][0], res["loop"][0])
    for name, ref in res["loop"][1].items():
        assert _close(res["stacked"][1][name], ref), name


def test_conv_stem_experts_stay_in_the_loop():
    cfg = ExpertConfig(stem="conv")
    bank = make_bank(lambda: ExpertPolicy(cfg, 4), 2)
    assert bank.mode == "loop"
    with pytest.raises(ValueError, match="linear stem"):
        bank.stacked.forward_stacked(torch.zeros(1, 2, 8, 8, 8, 8), torch.eye(4)[:1])


def test_stacked_experts_run_under_bf16_autocast_with_float32_gradients():
    cfg = ExpertConfig(free_space=True)
    torch.manual_seed(0)
    bank = make_bank(lambda: ExpertPolicy(cfg, 4), 3)
    x = torch.randn(4, 3, 8, 8, 8, 8)
    onehot = torch.eye(4)
    ref = bank(x, onehot)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = bank(x, onehot)
    assert y.dtype == torch.bfloat16
    assert _close(y.float(), ref, tol=0.05)
    y.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in bank.parameters())


def test_bf16_autocast_training_learns_like_float32():
    """The bench's bf16 option on a small learning problem: same data, seed and steps; both reach
    low imitation loss on the synthetic task, within a small margin of each other."""
    from navfusion.agents import load_agent_config
    from navfusion.train.data import synthetic_split
    from navfusion.train.imitation import build_agent

    torch.set_num_threads(1)
    data = synthetic_split(num_scenes=1, num_encoders=3, seed=0, rgb_resolution=16, width=10, height=8)
    agent = {"kind": "action_fusion", "encoders": list(data.spec.encoders),
             "gate": {"resolution": 16, "channels": [8, 8]}, "expert": {"hidden": 32},
             "fusion": {"label_smoothing": 0.0}}
    states = np.argwhere(data.arrays[0].distance >= 1)
    final = {}
    for amp in (False, True):
        model = build_agent(load_agent_config(agent), data, 0)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        rng = np.random.default_rng(0)
        first = None
        for _ in range(120):
            pick = states[rng.integers(len(states), size=64)]
            s = np.zeros(64, np.int64)
            inp = data.inputs(s, pick[:, 1], pick[:, 0])
            actions = torch.as_tensor(data.oracle(s, pick[:, 1], pick[:, 0]))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss, logs = model.loss(model(inp), actions)
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = logs["nll"] if first is None else first
        with torch.no_grad():
            s = np.zeros(len(states), np.int64)
            out = model(data.inputs(s, states[:, 1], states[:, 0]))
            acc = float((out.log_probs.argmax(-1) == torch.as_tensor(data.oracle(s, states[:, 1], states[:, 0])))
                        .float().mean())
        final[amp] = (first, acc)
    (_, f32_acc), (_, bf_acc) = final[False], final[True]
    print("final (first nll, accuracy):", final)
    assert f32_acc > 0.6 and bf_acc > 0.6, final
    assert abs(f32_acc - bf_acc) < 0.1, final


def test_tune_allocator_is_idempotent_and_can_be_skipped(monkeypatch):
    from navfusion.train import speed

    monkeypatch.setattr(speed, "_applied", None)
    monkeypatch.setenv("NAVFUSION_MALLOC", "default")
    assert speed.tune_allocator() is False
    monkeypatch.setattr(speed, "_applied", None)
    monkeypatch.delenv("NAVFUSION_MALLOC")
    first = speed.tune_allocator()
    assert isinstance(first, bool) and speed.tune_allocator() == first


def test_bench_train_lists_the_four_agents(capsys):
    assert main(["bench", "train", "--experts", "2", "--batch-size", "4", "--iterations", "1",
                 "--gate-resolution", "16", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["agent"] for r in rows] == ["action_fusion", "feature_fusion", "concat", "resnet"]
    assert all(r["iterations_per_s"] > 0 and r["batch_size"] == 4 for r in rows)
    assert main(["bench", "train", "--agent", "concat", "--experts", "2", "--batch-size", "4", "--iterations", "1",
                 "--reference", "--amp", "bf16", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["reference"] and one["amp"] == "bf16" and not one["allocator_tuned"]


@pytest.mark.slow
def test_bench_train_compare_measures_baseline_and_current_in_one_run(capsys):
    assert main(["bench", "train", "--compare", "--baseline", "HEAD", "--rounds", "1", "--agent", "concat",
                 "--experts", "2", "--batch-size", "4", "--iterations", "1", "--gate-resolution", "16",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    (row,) = res["rows"]
    assert row["agent"] == "concat" and row["baseline_it_per_s"] > 0 and row["current_it_per_s"] > 0
    assert row["speedup"] > 0 and len(res["baseline"]) == 40


def test_reproduce_pool_processes_get_the_tuned_allocator():
    """``navfusion reproduce``'s pool processes (spawned: glibc defaults) keep large blocks in the heap
    once their initializer ran; a plain spawned process still mmaps them (so the check means something)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from navfusion.report import reproduce
    from navfusion.train import speed

    if speed.large_blocks_mmapped() is None or os.environ.get("NAVFUSION_MALLOC", "").lower() == "default":
        pytest.skip("needs glibc >= 2.33 and the tuning enabled")
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as plain:
        assert plain.submit(speed.large_blocks_mmapped).result() is True
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=reproduce._init_worker, initargs=(1,)) as pool:
        assert pool.submit(speed.large_blocks_mmapped).result() is False
