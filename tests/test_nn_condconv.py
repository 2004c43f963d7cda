"""CondConv2d equals its mixture-of-experts form and a per-example loop (float64, outputs and grads)."""

from __future__ import annotations

import pytest
import torch

from navfusion.nn import CondConv2d, ShapeError, SigmoidRouting, SoftmaxRouting

CASES = [
    # K, C_in, C_out, kernel, stride, padding, dilation, groups, channels_last, routing
    (1, 4, 6, 3, 1, 1, 1, 1, False, "sigmoid"),
    (3, 4, 6, 3, 2, 1, 1, 1, True, "sigmoid"),
    (4, 6, 6, 3, 1, 2, 2, 3, False, "softmax"),
    (5, 6, 6, 3, 2, 1, 1, 6, True, "softmax"),  # depthwise
    (8, 4, 8, (1, 3), 1, (0, 1), 1, 2, False, "sigmoid"),
    (2, 4, 4, 3, 1, 1, 1, 1, True, None),  # no bias, routing weights passed in
]


def _grads(layer: CondConv2d, x: torch.Tensor, w: torch.Tensor, impl: str, r: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    layer.impl = impl
    layer.zero_grad()
    xx = x.detach().clone().requires_grad_()
    rr = None if r is None else r.detach().clone().requires_grad_()
    y = layer(xx, rr)
    (y * w).sum().backward()
    extra = [] if rr is None else [rr.grad]
    return y.detach(), [xx.grad, *extra, *(p.grad.clone() for p in layer.parameters() if p.grad is not None)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"K{c[0]}-s{c[4]}-g{c[7]}-cl{int(c[8])}-{c[9]}")
def test_condconv_equals_moe_form_and_loop(case):
    k, cin, cout, ks, stride, pad, dil, groups, cl, routing = case
    g = torch.Generator().manual_seed(k)
    layer = CondConv2d(cin, cout, ks, num_experts=k, stride=stride, padding=pad, dilation=dil, groups=groups,
                       routing=routing or "sigmoid", temperature=2.0, bias=routing is not None).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    x = torch.randn(3, cin, 7, 8, generator=g, dtype=torch.float64)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    r = None if routing else torch.rand(3, k, generator=g, dtype=torch.float64)  # explicit routing weights
    y_loop, g_loop = _grads(layer, x, torch.ones(1, dtype=torch.float64), "loop", r)
    w = torch.randn(y_loop.shape, generator=g, dtype=torch.float64)
    y_loop, g_loop = _grads(layer, x, w, "loop", r)
    for impl in ("grouped", "grouped_op", "bmm", "moe"):
        y, grads = _grads(layer, x, w, impl, r)
        assert len(grads) == len(g_loop)
        torch.testing.assert_close(y, y_loop, rtol=1e-5, atol=1e-9, msg=f"{impl} output")
        for a, b in zip(grads, g_loop):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-9, msg=f"{impl} gradient")
        if cl and impl != "loop":
            assert y.is_contiguous(memory_format=torch.channels_last)


def test_routing_weights_shape_and_range():
    x = torch.randn(5, 4, 6, 6)
    r = SigmoidRouting(4, 3)(x)
    assert r.shape == (5, 3) and bool(((r > 0) & (r < 1)).all())
    s = SoftmaxRouting(4, 3, temperature=30.0)
    with torch.no_grad():
        s.proj.weight.normal_()
    p = s(x)
    torch.testing.assert_close(p.sum(-1), torch.ones(5))
    s.temperature = 0.01  # sharper with a lower temperature
    assert p.max() < s(x).max()
    layer = CondConv2d(4, 2, 3, num_experts=3)
    torch.testing.assert_close(layer(x), layer(x, layer.route(x)))


def test_condconv_shape_errors_state_expected_and_received():
    layer = CondConv2d(4, 8, 3, num_experts=3)
    with pytest.raises(ShapeError, match=r"\(B, 4, H, W\).*\(2, 5, 6, 6\)"):
        layer(torch.randn(2, 5, 6, 6))
    with pytest.raises(ShapeError, match=r"routing.*\(2, 3\).*\(2, 4\)"):
        layer(torch.randn(2, 4, 6, 6), torch.rand(2, 4))
    with pytest.raises(ValueError, match="groups"):
        CondConv2d(4, 6, 3, groups=4)
