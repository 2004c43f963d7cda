"""The RGB gate: which representations to trust in the current situation.

The trunk (a plain patchify conv, then stride-2 CondConv2d layers) runs on each of the 8 RGB
views at the gate's own resolution; the 8 view embeddings are concatenated in world-aligned order
and, when ``sees_target`` (default), joined with the target one-hot; an MLP gives ``K`` logits and a
(masked) softmax gives the mixing weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.agents.config import GateConfig
from navfusion.common import NUM_VIEWS


class _LocalCondConv2d(nn.Module):
    """Fallback CondConv2d (per-example kernel ``Σ_i r_i(x) W_i``, ``r = sigmoid(GAP(x) R)``) via the
    grouped-convolution trick; used only while ``navfusion.nn.CondConv2d`` is unavailable."""

    def __init__(self, cin: int, cout: int, kernel_size: int, num_experts: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.padding = cin, cout, kernel_size, stride, padding
        self.weight = nn.Parameter(torch.empty(num_experts, cout, cin, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(num_experts, cout))
        self.routing = nn.Linear(cin, num_experts)
        for i in range(num_experts):
            nn.init.kaiming_uniform_(self.weight[i], a=5 ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        r = torch.sigmoid(self.routing(x.mean((2, 3))))  # (B, E)
        w = torch.einsum("be,eoikl->boikl", r, self.weight).reshape(b * self.cout, self.cin, self.k, self.k)
        bias = (r @ self.bias).reshape(-1)
        y = F.conv2d(x.reshape(1, b * self.cin, *x.shape[2:]), w, bias, self.stride, self.padding, groups=b)
        return y.reshape(b, self.cout, *y.shape[2:])


def make_condconv(cin: int, cout: int, kernel_size: int, num_experts: int, stride: int, padding: int) -> nn.Module:
    """``navfusion.nn.CondConv2d`` when available, else the local fallback (same maths)."""
    try:
        from navfusion.nn import CondConv2d
    except ImportError:
        return _LocalCondConv2d(cin, cout, kernel_size, num_experts, stride=stride, padding=padding)
    return CondConv2d(cin, cout, kernel_size, num_experts=num_experts, stride=stride, padding=padding)


def rgb_to_input(rgb: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(B, 8, H, W, 3)`` uint8 → ``(B*8, 3, r, r)`` float, roughly zero-mean, resized when needed."""
    b = rgb.shape[0]
    # out-of-place: a float input may be the caller's own tensor (e.g. an SB3 observation)
    x = (rgb.reshape(b * NUM_VIEWS, *rgb.shape[2:]).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.25
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="area")
    return x


class Gate(nn.Module):
    """``rgb (B, 8, H, W, 3) uint8``, ``target one-hot (B, T)`` → mixing weights ``(B, K)``."""

    def __init__(self, cfg: GateConfig, num_experts: int, num_targets: int, resolution: int) -> None:
        super().__init__()
        self.cfg, self.resolution, self.num_experts = cfg, resolution, num_experts
        ch = cfg.channels
        st = cfg.stem_stride
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], st, stride=st), nn.ReLU()]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [make_condconv(cin, cout, 3, cfg.cond_experts, stride=2, padding=1), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        extra = num_targets if cfg.sees_target else 0
        self.mlp = nn.Sequential(nn.Linear(ch[-1] * NUM_VIEWS + extra, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, num_experts))
        # start from uniform weights so every expert gets gradient early on
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, rgb: torch.Tensor, target_onehot: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b = rgb.shape[0]
        z = self.trunk(rgb_to_input(rgb, self.resolution)).mean((2, 3)).reshape(b, -1)
        if self.cfg.sees_target:
            z = torch.cat([z, target_onehot], dim=-1)
        logits = self.mlp(z) / self.cfg.temperature
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.softmax(logits, dim=-1)
