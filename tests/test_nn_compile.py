"""torch.export / torch.compile of CondConv2d and ExpertBank keep the batch size generic.

Two tests run by default (each costs seconds of tracing/compilation); the rest are ``slow``.
"""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim, export

from navfusion.nn import CondConv2d, ExpertBank, NavExpert

SMALL = dict(channels=3, height=4, width=4, views=8, view_dim=6, hidden=10)


def _bank() -> ExpertBank:
    return ExpertBank(lambda: NavExpert(**SMALL), 3, seed=0).eval()


def test_export_with_dynamic_batch_matches_eager_for_two_batch_sizes():
    torch.manual_seed(0)
    conv = CondConv2d(4, 6, 3, num_experts=3, padding=1, stride=2).eval()
    ep = export(conv, (torch.randn(4, 4, 9, 9),), dynamic_shapes={"x": {0: Dim("batch", min=1, max=1024)}},
                strict=False)
    assert any("batch_grouped_conv2d" in str(n.target) for n in ep.graph.nodes)  # the trick, not a fallback
    for b in (2, 7):
        x = torch.randn(b, 4, 9, 9)
        torch.testing.assert_close(ep.module()(x), conv(x), rtol=1e-5, atol=1e-6)

    bank = _bank()
    x = torch.randn(4, 3, 8, 3, 4, 4)
    t = torch.tensor([0, 1, 2, 3])
    batch = Dim("batch", min=1, max=1024)
    ep = export(bank, (x, t), dynamic_shapes=({0: batch}, ({0: batch},)), strict=False)  # forward(x, *shared)
    for b in (2, 9):
        xb, tb = torch.randn(b, 3, 8, 3, 4, 4), torch.arange(b) % 4
        torch.testing.assert_close(ep.module()(xb, tb), bank(xb, tb), rtol=1e-5, atol=1e-6)


def test_compile_dynamic_condconv_forward_and_backward():
    torch._dynamo.reset()
    torch.manual_seed(0)
    conv = CondConv2d(4, 6, 3, num_experts=3, padding=1)
    compiled = torch.compile(conv, dynamic=True)  # Inductor cannot lower the raw trick dynamically
    for b in (3, 5):
        x = torch.randn(b, 4, 6, 6, requires_grad=True)
        y = compiled(x)
        torch.testing.assert_close(y, conv(x), rtol=1e-5, atol=1e-5)
        (gx,) = torch.autograd.grad(y.square().sum(), x)
        (ref,) = torch.autograd.grad(conv(x).square().sum(), x)
        torch.testing.assert_close(gx, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compile_static_expert_bank_and_condconv_two_batch_sizes():
    torch._dynamo.reset()
    bank = _bank()
    conv = CondConv2d(4, 6, 3, num_experts=3, padding=1).eval()
    cb = torch.compile(bank, dynamic=False)
    cc = torch.compile(conv, dynamic=False)
    for b in (2, 6):
        x, t = torch.randn(b, 3, 8, 3, 4, 4), torch.arange(b) % 4
        torch.testing.assert_close(cb(x, t), bank(x, t), rtol=1e-5, atol=1e-6)
        xc = torch.randn(b, 4, 6, 6)
        torch.testing.assert_close(cc(xc), conv(xc), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_compile_default_expert_bank_recompiles_dynamic_without_error():
    torch._dynamo.reset()
    bank = _bank()
    cb = torch.compile(bank)  # the second batch size triggers an automatic-dynamic recompilation
    for b in (2, 5, 7):
        x, t = torch.randn(b, 3, 8, 3, 4, 4), torch.arange(b) % 4
        torch.testing.assert_close(cb(x, t), bank(x, t), rtol=1e-5, atol=1e-6)
