"""Reference form of a conditionally parameterised convolution (for tests and benchmarks).

:func:`loop_conv2d` computes ``y_b = conv(x_b, Σ_k r_bk W_k) + Σ_k r_bk b_k`` like
:func:`condconv2d` with a per-example loop of plain convolutions. (The mixture-of-experts form,
ONE convolution with the K experts' kernels concatenated along the output channels, then the
per-example weighted sum, is ``condconv2d(impl="moe")``: :mod:`navfusion.nn.condconv_moe`.)

Shapes: x (B, C_in, H, W); weight (K, C_out, C_in/groups, kh, kw); bias (K, C_out) or None;
routing (B, K) → (B, C_out, H_out, W_out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from navfusion.nn.condconv_functional import IntPair, check_condconv_inputs


def loop_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
                stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> torch.Tensor:
    """Per-example loop: mix the kernel for example b, run a plain convolution on x[b]."""
    check_condconv_inputs(x, weight, bias, routing, groups)
    k = weight.shape[0]
    outs = []
    for b in range(x.shape[0]):
        w = (routing[b] @ weight.reshape(k, -1)).reshape(weight.shape[1:])
        bb = None if bias is None else routing[b] @ bias
        outs.append(F.conv2d(x[b : b + 1], w, bb, stride, padding, dilation, groups))
    return torch.cat(outs)
