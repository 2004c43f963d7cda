"""CondConv2d: a convolution whose kernel is a per-example mixture of K expert kernels."""

from __future__ import annotations

import math

import torch
from torch import nn

from navfusion.nn.condconv_functional import IntPair, condconv2d
from navfusion.nn.condconv_reference import loop_conv2d
from navfusion.nn.routing import SigmoidRouting, SoftmaxRouting

IMPLS = ("auto", "grouped", "grouped_op", "bmm", "moe", "loop")


class CondConv2d(nn.Module):
    """Conditionally parameterised convolution (Yang et al., NeurIPS 2019).

    ``W(x) = Σ_k r_k(x) W_k``, computed as ONE convolution by folding the batch into the groups
    (the grouped-convolution trick): the cost of a single convolution plus a (B, K)·(K, |W|)
    matrix product, mathematically equal to a mixture of K convolution experts. For small output
    maps (``impl="auto"``, at most ``MOE_MAX_OUTPUT_PIXELS`` pixels) it computes that mixture form
    instead, which is faster there (measured; :mod:`navfusion.nn.condconv_moe`).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as
            :class:`torch.nn.Conv2d` (zero padding; ``groups=in_channels`` gives depthwise).
        num_experts: K.
        routing: ``"sigmoid"`` (CondConv, :class:`SigmoidRouting`), ``"softmax"``
            (Dynamic Convolution, :class:`SoftmaxRouting`, with ``temperature``), a module mapping
            x (B, C_in, H, W) → (B, K), or ``None`` (routing weights must then be passed to forward).
        impl: ``"auto"``/``"grouped"``/``"grouped_op"``/``"bmm"``/``"moe"`` (see :func:`condconv2d`;
            ``"auto"`` picks the mixture-of-experts form for small output maps), or the reference
            forms ``"moe"`` (one conv with concatenated kernels + weighted sum) and ``"loop"``.

    Parameters: ``weight`` (K, C_out, C_in/groups, kh, kw), ``bias`` (K, C_out), each expert
    initialised like an ``nn.Conv2d``.

    ``forward(x, routing_weights=None)``: x (B, C_in, H, W) (contiguous or channels_last) →
    (B, C_out, H_out, W_out) in the same memory format. ``routing_weights`` (B, K) overrides the
    routing module; :meth:`route` returns them so a caller can log or regularise them.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        num_experts: int = 8,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        routing: str | nn.Module | None = "sigmoid",
        temperature: float = 1.0,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"CondConv2d: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if num_experts < 1:
            raise ValueError(f"CondConv2d: num_experts must be ≥ 1, got {num_experts}")
        if impl not in IMPLS:
            raise ValueError(f"CondConv2d: impl must be one of {IMPLS}, got {impl!r}")
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.in_channels, self.out_channels, self.num_experts = in_channels, out_channels, num_experts
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.dilation, self.groups, self.impl = dilation, groups, impl
        self.weight = nn.Parameter(torch.empty(num_experts, out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(num_experts, out_channels)) if bias else None
        if routing == "sigmoid":
            routing = SigmoidRouting(in_channels, num_experts)
        elif routing == "softmax":
            routing = SoftmaxRouting(in_channels, num_experts, temperature=temperature)
        elif isinstance(routing, str):
            raise ValueError(f"CondConv2d: routing must be 'sigmoid', 'softmax', a module or None, got {routing!r}")
        self.routing = routing
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every expert like ``nn.Conv2d`` (Kaiming-uniform, a=√5)."""
        fan_in = self.weight[0, 0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        for k in range(self.num_experts):
            nn.init.kaiming_uniform_(self.weight[k], a=math.sqrt(5))
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def route(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) → routing weights (B, K)."""
        if self.routing is None:
            raise ValueError("CondConv2d: no routing module; pass routing_weights (B, K) to forward")
        return self.routing(x)

    def forward(self, x: torch.Tensor, routing_weights: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C_in, H, W), routing_weights (B, K) | None → (B, C_out, H_out, W_out)."""
        r = self.route(x) if routing_weights is None else routing_weights
        args = (x, self.weight, self.bias, r, self.stride, self.padding, self.dilation, self.groups)
        if self.impl == "loop":
            return loop_conv2d(*args)
        return condconv2d(*args, impl=self.impl)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"num_experts={self.num_experts}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}, impl={self.impl!r}")
