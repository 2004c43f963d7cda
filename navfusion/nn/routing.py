"""Routing functions for CondConv2d: per-example mixing weights of K expert kernels."""

from __future__ import annotations

import torch
from torch import nn

from navfusion.nn.shapes import check_shape


class SigmoidRouting(nn.Module):
    """CondConv routing ``r(x) = sigmoid(GAP(x) · R + b)`` (Yang et al. 2019).

    x (B, C, H, W) → r (B, K), each entry in (0, 1) independently (not normalised).
    """

    def __init__(self, in_channels: int, num_experts: int, bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if in_channels < 1 or num_experts < 1:
            raise ValueError(f"SigmoidRouting: in_channels and num_experts must be ≥ 1, "
                             f"got {in_channels}, {num_experts}")
        self.in_channels, self.num_experts = in_channels, num_experts
        self.proj = nn.Linear(in_channels, num_experts, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, K) pre-activation routing scores."""
        check_shape("x", x, ("B", self.in_channels, "H", "W"), type(self).__name__)
        return self.proj(self.dropout(x.mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, K) routing weights."""
        return torch.sigmoid(self.logits(x))


class SoftmaxRouting(SigmoidRouting):
    """Dynamic-Convolution routing (Chen et al. 2020): ``softmax((GAP(x) · R + b) / temperature)``.

    x (B, C, H, W) → r (B, K), rows sum to 1. A high temperature (e.g. 30, annealed to 1 over
    training, as in the paper) keeps early routing near uniform; ``temperature`` may be changed
    between steps.
    """

    def __init__(self, in_channels: int, num_experts: int, temperature: float = 1.0, bias: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__(in_channels, num_experts, bias=bias, dropout=dropout)
        if not temperature > 0:
            raise ValueError(f"SoftmaxRouting: temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, K) routing weights (softmax over K)."""
        return torch.softmax(self.logits(x) / self.temperature, dim=-1)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
