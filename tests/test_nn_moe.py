"""Dense and noisy top-k MoE: equivalence, balancing losses, capacity accounting."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from navfusion.nn import DenseMoE, ExpertBank, NoisyTopKMoE, cv_squared, smooth_load


def _experts(n: int = 4, d: int = 5, out: int = 3) -> list[nn.Module]:
    g = torch.Generator().manual_seed(0)
    mods = []
    for _ in range(n):
        m = nn.Linear(d, out).double()
        with torch.no_grad():
            m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=torch.float64))
        mods.append(m)
    return mods


def test_sparse_with_k_equal_e_and_no_noise_equals_dense():
    experts = _experts()
    dense = DenseMoE(experts, 5).double()
    sparse = NoisyTopKMoE(experts, 5, k=4, noisy=False).double()
    with torch.no_grad():
        dense.gate.weight.normal_()
        sparse.w_gate.copy_(dense.gate.weight.T)
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    a, b = dense(x), sparse(x)
    torch.testing.assert_close(a.output, b.output, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(a.gates, b.gates, rtol=1e-5, atol=1e-12)
    ga = torch.autograd.grad(a.output.sum(), [x, dense.gate.weight])
    gb = torch.autograd.grad(b.output.sum(), [x, sparse.w_gate])
    torch.testing.assert_close(ga[0], gb[0], rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(ga[1], gb[1].T, rtol=1e-5, atol=1e-12)


def test_dense_moe_with_expert_bank_matches_module_list():
    mods = [nn.Linear(5, 3) for _ in range(3)]
    a = DenseMoE(mods, 5)
    b = DenseMoE(ExpertBank.from_modules(mods, mode="vmap"), 5)
    b.gate.load_state_dict(a.gate.state_dict())
    x = torch.randn(4, 5)
    torch.testing.assert_close(a(x).output, b(x).output)


def test_balancing_losses_match_hand_computed_values():
    # hand example: importance (3, 1) → mean 2, population variance 1 → CV² = 1/4
    assert math.isclose(cv_squared(torch.tensor([3.0, 1.0])).item(), 0.25, rel_tol=1e-6)
    experts = _experts(n=3, d=2)
    moe = NoisyTopKMoE(experts, 2, k=1, noisy=False, w_importance=0.5, w_load=2.0).double()
    with torch.no_grad():
        moe.w_gate.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64))
    x = torch.tensor([[2.0, 0.0], [3.0, 1.0], [0.0, 5.0], [1.0, 0.0]], dtype=torch.float64)
    out = moe(x)
    # top-1 picks experts 0, 0, 1, 0 with gate 1 each: importance = load = (3, 1, 0)
    mean, var = 4 / 3, ((3 - 4 / 3) ** 2 + (1 - 4 / 3) ** 2 + (4 / 3) ** 2) / 3
    assert math.isclose(out.importance_loss.item(), var / mean**2, rel_tol=1e-6)
    assert math.isclose(out.load_loss.item(), var / mean**2, rel_tol=1e-6)
    assert math.isclose(out.aux_loss.item(), 2.5 * var / mean**2, rel_tol=1e-6)
    assert out.expert_counts.tolist() == [3, 1, 0] and out.dropped.item() == 0


def test_smooth_load_hand_example():
    # one item, 3 experts, k=1; noisy logits (2, 1, 0): expert 0 in top-1 → threshold 1 (2nd best);
    # experts 1 and 2 → threshold 2 (best)
    clean = torch.tensor([[1.5, 1.0, 0.5]])
    noisy = torch.tensor([[2.0, 1.0, 0.0]])
    std = torch.tensor([[1.0, 0.5, 2.0]])
    phi = torch.distributions.Normal(0.0, 1.0).cdf
    expected = torch.stack([phi(torch.tensor(0.5)), phi(torch.tensor(-2.0)), phi(torch.tensor(-0.75))])
    torch.testing.assert_close(smooth_load(clean, noisy, std, 1), expected)


def test_noisy_gating_is_trainable_and_reproducible_with_generator():
    moe = NoisyTopKMoE(_experts(n=4), 5, k=2).double().train()
    with torch.no_grad():
        moe.w_gate.normal_()
        moe.w_noise.normal_()
    x = torch.randn(16, 5, dtype=torch.float64)
    a = moe(x, generator=torch.Generator().manual_seed(3))
    b = moe(x, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.output, b.output)
    assert ((a.gates > 0).sum(-1) == 2).all()
    a.aux_loss.backward()
    assert moe.w_noise.grad is not None and moe.w_noise.grad.abs().sum() > 0  # load loss reaches the noise weights


def test_capacity_overflow_is_counted():
    experts = _experts(n=2, d=2)
    moe = NoisyTopKMoE(experts, 2, k=1, noisy=False, capacity_factor=1.0).double()
    with torch.no_grad():
        moe.w_gate.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64))
    # 5 items go to expert 0, 1 to expert 1; capacity = ceil(1.0 · 1 · 6 / 2) = 3
    x = torch.tensor([[5.0, 0], [4, 0], [3, 0], [2, 0], [1, 0], [0, 1]], dtype=torch.float64)
    out = moe(x)
    assert moe.capacity(6) == 3
    assert out.expert_counts.tolist() == [3, 1]
    assert out.dropped.item() == 2
    # the dropped items (batch positions 3 and 4) get no contribution; the kept ones get expert 0
    assert torch.all(out.output[3:5] == 0)
    torch.testing.assert_close(out.output[:3], experts[0](x[:3]))
    with pytest.raises(ValueError, match="k must be"):
        NoisyTopKMoE(experts, 2, k=3)
