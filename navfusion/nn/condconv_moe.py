"""CondConv in its mixture-of-experts form, with a hand-written backward (the fast path for small maps).

``y_b = Σ_k r_bk conv(x_b, W_k) + Σ_k r_bk bias_k`` is computed as ONE dense convolution of the
batch with the K experts' kernels concatenated along the output channels (``Y``: B × K·C_out maps),
then a per-example weighted sum over the K maps (a batched matrix product). It does K times the
convolution FLOPs of the grouped trick (:func:`navfusion.nn.condconv_functional.condconv2d`), but
as one large, well-shaped GEMM instead of B tiny per-example ones, and it mixes no per-example
kernels: where the output maps are small (a few dozen pixels) and the per-example kernel is as
large as the activations, that wins (measured per layer shape: BENCHMARKS.md "Training throughput").

The autograd function keeps ``Y`` and computes the backward directly: ``∂r_bk = ⟨g_b, Y_bk⟩``,
``∂Y_bk = r_bk g_b``, then one ``convolution_backward`` for ``x`` and the kernels. Written by hand it
skips the copies autograd makes for a broadcast matmul's backward (``moe_conv2d`` in
``condconv_reference`` is the same maths through autograd).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _MoEConvFunction(torch.autograd.Function):
    """x (B, C_in, H, W), weight (K·C_out, C_in, kh, kw), routing (B, K) → (B, C_out, Ho, Wo), no bias."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, routing: torch.Tensor, k: int,
                stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
        y = F.conv2d(x, weight, None, stride, padding, dilation)  # (B, K·C_out, Ho, Wo)
        b, _, ho, wo = y.shape
        y = y.contiguous().reshape(b, k, -1)  # (B, K, C_out·Ho·Wo)
        out = torch.bmm(routing.unsqueeze(1), y)  # (B, 1, C_out·Ho·Wo)
        ctx.save_for_backward(x, weight, routing, y)
        ctx.conf = (stride, padding, dilation, ho, wo)
        return out.reshape(b, -1, ho, wo)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight, routing, y = ctx.saved_tensors
        stride, padding, dilation, ho, wo = ctx.conf
        b, k = routing.shape
        g = grad.contiguous().reshape(b, -1, 1)  # (B, C_out·Ho·Wo, 1)
        g_routing = torch.bmm(y, g).squeeze(-1) if ctx.needs_input_grad[2] else None  # (B, K)
        gx = gw = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            gy = (routing.unsqueeze(-1) * g.reshape(b, 1, -1)).reshape(b, -1, ho, wo)  # (B, K·C_out, Ho, Wo)
            gx, gw, _ = torch.ops.aten.convolution_backward(
                gy, x, weight, None, list(stride), list(padding), list(dilation), False, [0, 0], 1,
                [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False])
        return gx, gw, g_routing, None, None, None, None


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def moe_conv2d_fused(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
                     stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                     dilation: int | tuple[int, int] = 1) -> torch.Tensor:
    """CondConv as a mixture of K convolutions, one dense conv + weighted sum (no groups).

    x (B, C_in, H, W); weight (K, C_out, C_in, kh, kw); bias (K, C_out) | None; routing (B, K)
    → (B, C_out, H_out, W_out), contiguous NCHW. Equal to :func:`condconv2d` up to float rounding.
    Under autocast the convolution and the sum run in the autocast dtype, as ``F.conv2d`` would.
    """
    k, c_out = weight.shape[:2]
    w = weight.reshape(k * c_out, *weight.shape[2:])
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        # the function calls aten ops directly in backward: give it inputs of one dtype
        dt = torch.get_autocast_dtype(dev)
        x, w, r = x.to(dt).contiguous(), w.to(dt), routing.to(dt)
        with torch.autocast(dev, enabled=False):
            y = _MoEConvFunction.apply(x, w, r, k, _pair(stride), _pair(padding), _pair(dilation))
    else:
        y = _MoEConvFunction.apply(x.contiguous(), w, routing, k, _pair(stride), _pair(padding), _pair(dilation))
    if bias is not None:
        y = y + (routing @ bias).to(y.dtype)[:, :, None, None]
    return y
