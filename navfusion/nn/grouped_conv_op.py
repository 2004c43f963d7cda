"""The batch-folded grouped convolution of CondConv as an opaque custom operator.

Under ``torch.compile(dynamic=True)`` Inductor cannot lower a convolution whose group count is a
symbolic size (it raises while ordering strides); and exporting the trick with a plain reshape
tends to bake the batch size into the graph. Wrapping "fold batch into groups, convolve, unfold"
in a custom op keeps it one extern kernel with a shape-only fake implementation, so compiled and
exported graphs stay batch-size generic. (No ``from __future__ import annotations`` here: the
operator schema is inferred from the real annotations.)
"""

from typing import Optional, Sequence  # noqa: UP035 (typing.Sequence: the schema types torch 2.4 knows)

import torch
import torch.nn.functional as F
from torch import Tensor


def _out(n, k: int, s: int, p: int, d: int):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@torch.library.custom_op("navfusion::batch_grouped_conv2d", mutates_args=())
def batch_grouped_conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor],  # noqa: UP045 (torch 2.4 schema inference)
                         stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int], groups: int) -> Tensor:
    """x (B, C_in, H, W), per-example weight (B, C_out, C_in/groups, kh, kw), bias (B, C_out) | None
    → (B, C_out, H_out, W_out): ``y_b = conv(x_b, weight_b) + bias_b`` as one grouped convolution."""
    b, c_out = weight.shape[:2]
    h, w = x.shape[-2:]
    y = F.conv2d(x.reshape(1, -1, h, w), weight.reshape(b * c_out, *weight.shape[2:]),
                 None if bias is None else bias.reshape(-1), stride, padding, dilation, groups * b)
    return y.reshape(b, c_out, y.shape[-2], y.shape[-1])


@batch_grouped_conv2d.register_fake
def _(x, weight, bias, stride, padding, dilation, groups):
    kh, kw = weight.shape[-2:]
    ho = _out(x.shape[-2], kh, stride[0], padding[0], dilation[0])
    wo = _out(x.shape[-1], kw, stride[1], padding[1], dilation[1])
    return x.new_empty((x.shape[0], weight.shape[1], ho, wo))


@torch.library.custom_op("navfusion::batch_grouped_conv2d_backward", mutates_args=())
def batch_grouped_conv2d_backward(grad: Tensor, x: Tensor, weight: Tensor, stride: Sequence[int],
                                  padding: Sequence[int], dilation: Sequence[int], groups: int
                                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (x, weight, bias) of :func:`batch_grouped_conv2d`."""
    b, c_out = weight.shape[:2]
    gx, gw, gb = torch.ops.aten.convolution_backward(
        grad.reshape(1, b * c_out, *grad.shape[-2:]).contiguous(), x.reshape(1, -1, *x.shape[-2:]),
        weight.reshape(b * c_out, *weight.shape[2:]), [b * c_out], stride, padding, dilation, False, [0, 0],
        groups * b, [True, True, True])
    return gx.reshape(x.shape), gw.reshape(weight.shape), gb.reshape(b, c_out)


@batch_grouped_conv2d_backward.register_fake
def _(grad, x, weight, stride, padding, dilation, groups):
    return x.new_empty(x.shape), weight.new_empty(weight.shape), weight.new_empty(weight.shape[:2])


def _setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, dilation, groups = inputs
    ctx.save_for_backward(x, weight)
    ctx.conf = (stride, padding, dilation, groups)
    ctx.has_bias = bias is not None


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    gx, gw, gb = batch_grouped_conv2d_backward(grad, x, weight, *ctx.conf)
    return gx, gw, (gb if ctx.has_bias else None), None, None, None, None


batch_grouped_conv2d.register_autograd(_backward, setup_context=_setup_context)
