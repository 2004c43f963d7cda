"""Functional CondConv: a per-example mixed kernel computed as one grouped convolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from navfusion.nn.condconv_moe import moe_conv2d_unchecked
from navfusion.nn.grouped_conv_op import batch_grouped_conv2d
from navfusion.nn.shapes import ShapeError, check_shape, fmt_shape

IMPLS = ("auto", "grouped", "grouped_op", "bmm", "moe")

#: ``impl="auto"`` takes the mixture-of-experts form (:mod:`navfusion.nn.condconv_moe`) when the output
#: maps have at most this many pixels: there the grouped trick's B tiny
#: per-example convolutions and kernel mixing cost more than K dense convolutions in one GEMM.
#: Measured on the RGB gate's layers (B = 2,048, K = 4, 3×3 stride 2, fwd+bwd, one thread; BENCHMARKS.md
#: "Training throughput", benchmarks/bench_gate_condconv.py): 16→32 ch 16²→8² grouped 180-184 ms /
#: MoE 263-273 (grouped kept); 32→32 8²→4² 146-166 / 106-111; 16→32 8²→4² 73-83 / 60-87;
#: 32→32 4²→2² 109-123 / 37-43.
MOE_MAX_OUTPUT_PIXELS = 16

IntPair = int | tuple[int, int]


def check_condconv_inputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
                          groups: int) -> None:
    """Validate shapes: x (B, C_in, H, W), weight (K, C_out, C_in/groups, kh, kw), bias (K, C_out), routing (B, K)."""
    if weight.dim() != 5:
        raise ShapeError("condconv: weight must have shape (K, C_out, C_in/groups, kh, kw), "
                         f"got {fmt_shape(weight.shape)}")
    k, c_out, c_in_g = weight.shape[:3]
    if groups < 1 or c_out % groups:
        raise ValueError(f"condconv: groups={groups} must divide C_out={c_out}")
    check_shape("x", x, ("B", c_in_g * groups, "H", "W"), "condconv")
    check_shape("routing", routing, (x.shape[0], k), "condconv")
    if bias is not None:
        check_shape("bias", bias, (k, c_out), "condconv")


def condconv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, routing: torch.Tensor,
               stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
               impl: str = "auto") -> torch.Tensor:
    """``y_b = conv(x_b, Σ_k r_bk W_k) + Σ_k r_bk bias_k``.

    x (B, C_in, H, W); weight (K, C_out, C_in/groups, kh, kw); bias (K, C_out) | None;
    routing (B, K) → (B, C_out, H_out, W_out) (channels_last when x is).

    ``impl``: ``"grouped"`` folds the batch into the groups of one convolution (B·groups groups);
    ``"grouped_op"`` is the same wrapped as the opaque custom operator
    ``navfusion::batch_grouped_conv2d`` (Inductor cannot lower a convolution whose group count
    is a dynamic size; the operator keeps compiled/exported graphs batch-size generic);
    ``"bmm"`` uses unfold + batched matmul; ``"moe"`` the mixture-of-experts form (one dense
    convolution with the K kernels, then the per-example weighted sum, see
    :mod:`navfusion.nn.condconv_moe`); ``"auto"``: ``"moe"`` in eager mode for small output maps
    (:data:`MOE_MAX_OUTPUT_PIXELS`), else ``"grouped"``, and
    ``"grouped_op"`` while compiling or exporting (``"grouped"`` falls back to it there too).
    """
    check_condconv_inputs(x, weight, bias, routing, groups)
    k, c_out, c_in_g, kh, kw = weight.shape
    h, w = x.shape[-2:]
    if impl in ("auto", "grouped") and torch.compiler.is_compiling():
        impl = "grouped_op"  # same computation; the raw trick fails in Inductor with dynamic shapes
    elif impl == "auto":
        small = (_out_size(h, kh, stride, padding, dilation, 0) * _out_size(w, kw, stride, padding, dilation, 1)
                 <= MOE_MAX_OUTPUT_PIXELS)
        impl = "moe" if small else "grouped"
    if impl == "moe":
        return moe_conv2d_unchecked(x, weight, bias, routing, stride, padding, dilation, groups)
    mixed_bias = None if bias is None else routing @ bias  # (B, C_out)
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    if impl == "grouped" and channels_last:
        return _grouped_channels_last(x, weight, routing, mixed_bias, stride, padding, dilation, groups)
    mixed = routing @ weight.reshape(k, -1)  # (B, C_out·C_in/g·kh·kw): the per-example kernels
    if impl == "grouped":
        # -1 keeps the batch size symbolic under torch.export instead of baking it in
        y = F.conv2d(x.reshape(1, -1, h, w), mixed.reshape(-1, c_in_g, kh, kw),
                     None if mixed_bias is None else mixed_bias.reshape(-1),
                     stride, padding, dilation, groups * x.shape[0])
        y = y.reshape(-1, c_out, y.shape[-2], y.shape[-1])
    elif impl == "bmm":
        cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # (B, C_in·kh·kw, L)
        cols = cols.reshape(x.shape[0] * groups, c_in_g * kh * kw, -1)
        wts = mixed.reshape(x.shape[0] * groups, c_out // groups, c_in_g * kh * kw)
        y = torch.bmm(wts, cols)  # (B·g, C_out/g, L)
        ho = _out_size(h, kh, stride, padding, dilation, 0)
        wo = _out_size(w, kw, stride, padding, dilation, 1)
        y = y.reshape(-1, c_out, ho, wo)
        if mixed_bias is not None:
            y = y + mixed_bias[:, :, None, None]
    elif impl == "grouped_op":
        y = batch_grouped_conv2d(x, mixed.reshape(-1, c_out, c_in_g, kh, kw), mixed_bias, list(_pair(stride)),
                                 list(_pair(padding)), list(_pair(dilation)), groups)
    else:
        raise ValueError(f"condconv2d: impl must be one of {IMPLS}, got {impl!r}")
    if channels_last:
        y = y.contiguous(memory_format=torch.channels_last)
    return y


def _grouped_channels_last(x: torch.Tensor, weight: torch.Tensor, routing: torch.Tensor,
                           mixed_bias: torch.Tensor | None, stride: IntPair, padding: IntPair, dilation: IntPair,
                           groups: int) -> torch.Tensor:
    """The grouped trick kept in NHWC: oneDNN then convolves without reordering input and output.

    Physical layouts: x (B, H, W, C) → (H, W, B·C) (one copy); kernels mixed directly in
    (B·C_out, kh, kw, C_in/g) order; output (Ho, Wo, B·C_out) → (B, Ho, Wo, C_out) (one copy).
    """
    b, c_in, h, w = x.shape
    k, c_out, c_in_g, kh, kw = weight.shape
    xx = x.permute(2, 3, 0, 1).reshape(1, h, w, b * c_in).permute(0, 3, 1, 2)
    w_ohwi = weight.permute(0, 1, 3, 4, 2).reshape(k, -1)
    mixed = (routing @ w_ohwi).reshape(b * c_out, kh, kw, c_in_g).permute(0, 3, 1, 2)
    y = F.conv2d(xx, mixed, None if mixed_bias is None else mixed_bias.reshape(-1), stride, padding, dilation,
                 groups * b)
    ho, wo = y.shape[-2:]
    y = y.permute(0, 2, 3, 1).reshape(ho, wo, b, c_out).permute(2, 3, 0, 1)
    return y.contiguous(memory_format=torch.channels_last)


def _pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _out_size(n: int, k: int, stride: IntPair, padding: IntPair, dilation: IntPair, i: int) -> int:
    s, p, d = _pair(stride)[i], _pair(padding)[i], _pair(dilation)[i]
    return (n + 2 * p - d * (k - 1) - 1) // s + 1
