"""Reference forms of a conditionally parameterised convolution (for tests and benchmarks).

Both compute ``y_b = conv(x_b, Σ_k r_bk W_k) + Σ_k r_bk b_k`` like :func:`condconv2d`:

- :func:`moe_conv2d`, the mixture-of-experts form (:mod:`navfusion.nn.condconv_moe`, which
  ``condconv2d(impl="auto")`` also takes for small output maps): ONE convolution
  with the K experts' kernels concatenated along the output channels, then the per-example
  weighted sum (K times the convolution FLOPs of CondConv);
- :func:`loop_conv2d`, a per-example loop of plain convolutions.

Shapes: x (B, C_in, H, W); weight (K, C_out, C_in/groups, kh, kw); bias (K, C_out) or None;
routing (B, K) → (B, C_out, H_out, W_out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from navfusion.nn.condconv_functional import IntPair, check_condconv_inputs
from navfusion.nn.condconv_moe import moe_conv2d_unchecked


def moe_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
               stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> torch.Tensor:
    """Mixture-of-experts form: one conv with K·C_out output channels, then Σ_k r_bk y_bk."""
    check_condconv_inputs(x, weight, bias, routing, groups)
    return moe_conv2d_unchecked(x, weight, bias, routing, stride, padding, dilation, groups)


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
