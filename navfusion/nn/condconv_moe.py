"""CondConv in its mixture-of-experts form: K dense convolutions in one, then a per-example weighted sum.

``y_b = Σ_k r_bk conv(x_b, W_k) + Σ_k r_bk bias_k`` computed as ONE convolution of the batch with
the K experts' kernels concatenated along the output channels, then the sum over the K maps with
the routing weights (a batched matrix product). It does K times the convolution FLOPs of the
grouped trick (:func:`navfusion.nn.condconv_functional.condconv2d`), but as one large GEMM instead
of B tiny per-example ones, and it mixes no per-example kernels: where the output maps are small
(a few dozen pixels) and each example's mixed kernel is as large as its activations, that is the
faster form, so ``condconv2d(impl="auto")`` takes it there (BENCHMARKS.md "Training throughput").

A hand-written backward (keeping the K maps, ``∂r_bk = ⟨g_b, Y_bk⟩``, one ``convolution_backward``)
was measured against autograd's on the gate's shapes and was no faster (121 / 121, 42 / 41 ms), so
the form runs through autograd. Unchecked: callers validate shapes (``check_condconv_inputs``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def moe_conv2d_unchecked(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
                         stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                         dilation: int | tuple[int, int] = 1, groups: int = 1) -> torch.Tensor:
    """x (B, C_in, H, W); weight (K, C_out, C_in/groups, kh, kw); bias (K, C_out) | None; routing (B, K)
    → (B, C_out, H_out, W_out), channels_last when x is; equal to the grouped trick up to rounding."""
    k, c_out = weight.shape[:2]
    # grouped conv keeps each group's outputs contiguous, so interleave experts inside groups
    w = weight.reshape(k, groups, c_out // groups, *weight.shape[2:]).transpose(0, 1)
    y = F.conv2d(x, w.reshape(groups * k * (c_out // groups), *weight.shape[2:]), None, stride, padding,
                 dilation, groups)
    b, (h, w_) = x.shape[0], y.shape[-2:]
    if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous():
        # NHWC: reduce over experts in place of the channel axis, output stays channels_last
        y = y.permute(0, 2, 3, 1).reshape(b, h * w_, groups, k, c_out // groups)
        out = torch.matmul(routing.reshape(b, 1, 1, 1, k), y).reshape(b, h, w_, c_out).permute(0, 3, 1, 2)
    else:
        out = torch.matmul(routing.reshape(b, 1, 1, k), y.reshape(b, groups, k, -1)).reshape(b, c_out, h, w_)
    if bias is not None:
        out = out + (routing @ bias)[:, :, None, None]
    return out
