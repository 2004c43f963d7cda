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
    for impl in ("grouped", "grouped_op", "bmm", "moe", "auto"):
        y, grads = _grads(layer, x, w, impl, r)
        assert len(grads) == len(g_loop)
        torch.testing.assert_close(y, y_loop, rtol=1e-5, atol=1e-9, msg=f"{impl} output")
        for a, b in zip(grads, g_loop):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-9, msg=f"{impl} gradient")
        if cl and impl != "loop":
            assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("cin, hw", [(16, 16), (32, 8), (16, 8), (32, 4)], ids=lambda v: str(v))
def test_gate_layer_shapes_auto_equals_grouped_reference_in_float32(cin, hw):
    """The RGB gate's CondConv layers (3×3 stride 2, K = 4, 64² and 32² gates): whatever ``auto`` picks
    for the shape (the MoE form for output maps of ≤ 16 pixels) equals the grouped trick on outputs
    and every gradient to 1e-5, in the float32 the gate trains in."""
    from navfusion.nn.condconv_functional import MOE_MAX_OUTPUT_PIXELS

    g = torch.Generator().manual_seed(cin + hw)
    layer = CondConv2d(cin, 32, 3, num_experts=4, stride=2, padding=1)
    x = torch.relu(torch.randn(48, cin, hw, hw, generator=g))  # after a ReLU, like in the gate
    w = torch.randn(48, 32, hw // 2, hw // 2, generator=g)
    y_ref, g_ref = _grads(layer, x, w, "grouped")
    for impl in ("auto", "moe"):
        y, grads = _grads(layer, x, w, impl)
        torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5 * float(y_ref.abs().max()), msg=impl)
        for a, b in zip(grads, g_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()), msg=f"{impl} gradient")
    # which form auto takes: only the small maps go to the MoE form
    import navfusion.nn.condconv_functional as cf

    calls = []
    real = cf.moe_conv2d_unchecked
    cf.moe_conv2d_unchecked = lambda *a, **kw: calls.append(1) or real(*a, **kw)
    try:
        layer.impl = "auto"
        layer(x)
    finally:
        cf.moe_conv2d_unchecked = real
    assert bool(calls) == ((hw // 2) ** 2 <= MOE_MAX_OUTPUT_PIXELS)


def test_auto_moe_form_under_bf16_autocast_runs_in_bf16_and_trains_float32_parameters():
    g = torch.Generator().manual_seed(0)
    layer = CondConv2d(32, 32, 3, num_experts=4, stride=2, padding=1)  # 4×4 output: the MoE form
    x = torch.randn(8, 32, 8, 8, generator=g)
    with torch.no_grad():
        want = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), want, rtol=0.05, atol=0.05 * float(want.abs().max()))
    y.float().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.dtype == torch.float32
    assert layer.routing.proj.weight.grad is not None


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
