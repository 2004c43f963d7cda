"""The default expert policy of the navigation task (one per visual representation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.nn.shapes import ShapeError, check_shape
from navfusion.nn.stacked_linear import gather_stacked_linear, stacked_linear, stacked_linear_shared


class NavExpert(nn.Module):
    """Expert policy: the 8 views' features of one representation plus the target → 9 action logits.

    Architecture (chosen by measurement so that K experts batch into large matrix products, see
    BENCHMARKS.md "Neural core"):

    1. conv stage, shared across the ``views``: a convolution whose kernel covers the whole
       ``height × width`` feature map (``channels → view_dim``, no padding, output 1×1) + ReLU,
       i.e. one matrix product over the flattened ``C·h·w`` features of every view;
    2. MLP: concat of the ``views · view_dim`` view codes and the target one-hot →
       ``hidden`` + ReLU → ``num_actions`` logits.

    Inputs: ``features`` (B, views, channels, height, width) float; ``target`` either (B,) int64
    category indices in ``0..num_targets-1`` or (B, num_targets) float one-hot.
    Output: (B, num_actions) logits.

    It also implements :meth:`forward_stacked`, the batched form :class:`~navfusion.nn.ExpertBank`
    uses when the parameters carry a leading expert dimension K.
    """

    def __init__(
        self,
        channels: int = 8,
        height: int = 8,
        width: int = 8,
        views: int = 8,
        num_targets: int = 4,
        num_actions: int = 9,
        view_dim: int = 128,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        for name, v in dict(channels=channels, height=height, width=width, views=views, num_targets=num_targets,
                            num_actions=num_actions, view_dim=view_dim, hidden=hidden).items():
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"NavExpert: {name} must be a positive int, got {v!r}")
        self.views, self.channels, self.height, self.width = views, channels, height, width
        self.num_targets, self.num_actions = num_targets, num_actions
        self.conv = nn.Conv2d(channels, view_dim, kernel_size=(height, width))
        self.fuse = nn.Linear(views * view_dim + num_targets, hidden)
        self.head = nn.Linear(hidden, num_actions)

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        """Per-sample feature shape ``(views, channels, height, width)``."""
        return (self.views, self.channels, self.height, self.width)

    def _one_hot(self, target: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
        """(B,) indices or (B, T) one-hot → (B, T) float."""
        if target.dim() == 1 and not target.is_floating_point():
            check_shape("target", target, ("B",), "NavExpert")
            return F.one_hot(target, self.num_targets).to(dtype)
        check_shape("target", target, ("B", self.num_targets), "NavExpert")
        return target.to(dtype)

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, views, C, h, w), target (B,) | (B, T) → (B, num_actions) logits."""
        check_shape("features", features, ("B", *self.in_shape), "NavExpert")
        b = features.shape[0]
        w = self.conv.weight.flatten(1)  # a full-map kernel is a matrix product over C·h·w
        y = F.relu(F.linear(features.flatten(-3), w, self.conv.bias))  # (B, V, view_dim)
        y = torch.cat([y.flatten(1), self._one_hot(target, b, y.dtype)], dim=-1)
        return self.head(F.relu(self.fuse(y)))

    def forward_stacked(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Batched form for stacked parameters (leading dim K on every parameter).

        features (B, K, views, C, h, w), target (B,) | (B, T) → (B, K, num_actions).
        """
        k = self.conv.weight.shape[0]
        check_shape("features", features, ("B", k, *self.in_shape), "NavExpert (stacked)")
        b = features.shape[0]
        # every layer is one batched matmul over experts; the first gathers its rows in cache-sized chunks
        f = self.channels * self.height * self.width
        x = features.reshape(b, k, self.views, f)
        y = gather_stacked_linear(x, self.conv.weight.flatten(2), self.conv.bias).relu_().reshape(k, b, -1)
        t = self._one_hot(target, b, y.dtype)
        y = stacked_linear_shared(y, t, self.fuse.weight, self.fuse.bias).relu_()
        y = stacked_linear(y, self.head.weight, self.head.bias)
        return y.transpose(0, 1)


__all__ = ["NavExpert", "ShapeError"]
