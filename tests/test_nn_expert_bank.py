"""ExpertBank equals K independent modules; conversions; shape errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from navfusion.nn import ExpertBank, NavExpert, ShapeError

SMALL = dict(channels=3, height=4, width=4, views=8, view_dim=6, hidden=10)


def _small() -> NavExpert:
    return NavExpert(**SMALL)


class TwoInput(nn.Module):
    """A generic expert (no forward_stacked): exercises the vmap path."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(5, 7)
        self.b = nn.Linear(7 + 2, 3)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.b(torch.cat([torch.tanh(self.a(x)), s], -1))


@pytest.mark.parametrize("mode", ["stacked", "vmap", "loop"])
def test_bank_equals_independent_modules_outputs_and_grads(mode):
    k, b = 4, 5
    bank = ExpertBank(_small, k, seed=1, mode=mode).double()
    mods = bank.to_modules()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, k, 8, 3, 4, 4, generator=g, dtype=torch.float64)
    target = torch.tensor([0, 3, 1, 2, 0])
    w = torch.randn(b, k, 9, generator=g, dtype=torch.float64)
    xb, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = bank(xb, target)
    ref = torch.stack([m(xr[:, i], target) for i, m in enumerate(mods)], 1)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-10)
    (y * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(xb.grad, xr.grad, rtol=1e-5, atol=1e-10)
    for name, p in bank.stacked.named_parameters():
        ref_grad = torch.stack([dict(m.named_parameters())[name].grad for m in mods])
        torch.testing.assert_close(p.grad, ref_grad, rtol=1e-5, atol=1e-10)


def test_experts_initialised_differently_and_seed_reproducible():
    bank = ExpertBank(_small, 3, seed=7)
    w = bank.stacked.fuse.weight
    assert not torch.equal(w[0], w[1])
    template = _small()
    state = torch.random.get_rng_state()
    again = ExpertBank(template, 3, seed=7)  # module template: re-initialised copies
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert not torch.equal(again.stacked.fuse.weight[0], again.stacked.fuse.weight[1])
    assert torch.equal(ExpertBank(_small, 3, seed=7).stacked.fuse.weight, w)


def test_generic_template_with_shared_input_vmap():
    bank = ExpertBank(TwoInput, 3, seed=0).double()
    assert bank.resolved_mode() == "vmap"
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    s = torch.randn(4, 2, dtype=torch.float64)
    ref = torch.stack([m(x[:, i], s) for i, m in enumerate(bank.to_modules())], 1)
    torch.testing.assert_close(bank(x, s), ref, rtol=1e-5, atol=1e-10)


def test_modulelist_round_trip_select_and_add():
    mods = nn.ModuleList(_small() for _ in range(3))
    bank = ExpertBank.from_modules(mods)
    assert bank.num_experts == 3
    back = bank.to_modules()
    for a, b in zip(mods, back):
        for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
            assert na == nb and torch.equal(pa, pb)
    x = torch.randn(2, 3, 8, 3, 4, 4)
    t = torch.tensor([1, 2])
    y = bank(x, t)
    sub = bank.select([2, 0])
    torch.testing.assert_close(sub(x[:, [2, 0]], t), y[:, [2, 0]])
    extra = _small()
    bank.add_expert(extra)
    assert bank.num_experts == 4
    x4 = torch.cat([x, torch.randn(2, 1, 8, 3, 4, 4)], 1)
    y4 = bank(x4, t)
    torch.testing.assert_close(y4[:, :3], y)
    torch.testing.assert_close(y4[:, 3], extra(x4[:, 3], t))
    bank.add_expert()  # fresh expert
    assert bank.num_experts == 5 and bank.stacked.head.weight.shape[0] == 5
    with pytest.raises(IndexError):
        bank.select([5])


def test_wrong_shapes_state_expected_and_received():
    bank = ExpertBank(_small, 3, seed=0)
    with pytest.raises(ShapeError, match=r"\(B, 3, 8, 3, 4, 4\).*\(2, 4, 8, 3, 4, 4\)"):
        bank(torch.randn(2, 4, 8, 3, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"expected|must have shape.*\(2, 3, 8, 5, 4, 4\)"):
        bank(torch.randn(2, 3, 8, 5, 4, 4), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match="target"):
        bank(torch.randn(2, 3, 8, 3, 4, 4), torch.zeros(2, 5))
    generic = ExpertBank(TwoInput, 3)
    with pytest.raises(ShapeError, match=r"\(B, 3, \.\.\.\).*\(4, 2, 5\)"):
        generic(torch.randn(4, 2, 5), torch.randn(4, 2))
    with pytest.raises(ShapeError, match="different parameter shapes"):
        ExpertBank.from_modules([_small(), NavExpert(**{**SMALL, "hidden": 11})])


def test_gathered_chunks_give_the_same_outputs_and_grads(monkeypatch):
    from navfusion.nn import stacked_linear as sl

    bank = ExpertBank(_small, 5, seed=3).double()
    x = torch.randn(6, 5, 8, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    t = torch.arange(6) % 4
    y1 = bank(x, t)
    g1 = torch.autograd.grad(y1.square().sum(), [x, *bank.parameters()])
    monkeypatch.setattr(sl, "CHUNK_BYTES", 1)  # one expert per chunk
    y2 = bank(x, t)
    g2 = torch.autograd.grad(y2.square().sum(), [x, *bank.parameters()])
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-12)


def test_stacked_linear_shared_equals_the_concatenated_layer():
    from navfusion.nn.stacked_linear import stacked_linear, stacked_linear_shared

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 7, dtype=torch.float64, generator=g, requires_grad=True)
    s = torch.randn(5, 2, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 4, 9, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    y1 = stacked_linear_shared(x, s, w, b)
    y2 = stacked_linear(torch.cat([x, s.expand(3, -1, -1)], -1), w, b)
    torch.testing.assert_close(y1, y2)
    g1 = torch.autograd.grad(y1.sin().sum(), [x, s, w, b])
    g2 = torch.autograd.grad(y2.sin().sum(), [x, s, w, b])
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c)
    assert torch.autograd.gradcheck(stacked_linear_shared, (x, s, w, b))
