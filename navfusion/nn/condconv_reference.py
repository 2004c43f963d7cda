"""Reference forms of a conditionally parameterised convolution (for tests and benchmarks).

Both compute ``y_b = conv(x_b, Σ_k r_bk W_k) + Σ_k r_bk b_k`` like :func:`condconv2d`:

- :func:`moe_conv2d`, the mixture-of-experts form in its fastest honest version: ONE convolution
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


def moe_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
               stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> torch.Tensor:
    """Mixture-of-experts form: one conv with K·C_out output channels, then Σ_k r_bk y_bk."""
    check_condconv_inputs(x, weight, bias, routing, groups)
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
