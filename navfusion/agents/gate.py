"""The RGB gate: which representations to trust in the current situation.

The trunk (a plain patchify conv, then stride-2 CondConv2d layers) runs on each of the 8 RGB
views at the gate's own resolution; the 8 view embeddings are concatenated in world-aligned order
and, when ``sees_target`` (default), joined with the target one-hot; an MLP gives ``K`` logits and a
(masked) softmax gives the mixing weights.

Speed (the gate runs on 8 views × batch images, the bulk of a training step): the input
normalisation ``(x/255 - 0.5)/0.25`` is linear and the stem has no padding, so it is folded into the
stem's weights and bias (:func:`fused_stem`) and the stem convolves the uint8 views converted to
float in their stored NHWC layout: one pass over the images instead of five, same maths
(``Gate.fused_input = False`` runs the reference path). The CondConv layers pick their method by
shape (``CondConv2d(impl="auto")``): the grouped trick where the output maps are large (the first
layer at 64²: 8×8), the mixture-of-experts form where they are small (the second layer: 4×4),
both exact up to float rounding (BENCHMARKS.md "Training throughput").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.agents.config import GateConfig
from navfusion.common import NUM_VIEWS
from navfusion.nn import CondConv2d

#: the input normalisation ``(x / 255 - 0.5) / 0.25`` as ``x · SCALE + SHIFT``
RGB_SCALE, RGB_SHIFT = 1.0 / (255.0 * 0.25), -0.5 / 0.25


def rgb_to_input(rgb: torch.Tensor, resolution: int) -> torch.Tensor:
    """``(B, 8, H, W, 3)`` uint8 → ``(B*8, 3, r, r)`` float, roughly zero-mean, resized when needed."""
    b = rgb.shape[0]
    # out-of-place: a float input may be the caller's own tensor (e.g. an SB3 observation)
    x = (rgb.reshape(b * NUM_VIEWS, *rgb.shape[2:]).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.25
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="area")
    return x


def fused_stem(rgb: torch.Tensor, stem: nn.Conv2d) -> torch.Tensor:
    """``stem(rgb_to_input(rgb, H))`` for an unpadded stem and views already at the gate's size.

    ``rgb (B, 8, H, W, 3)`` (uint8 or float in 0..255) → ``(B*8, C, H', W')`` float. The
    normalisation is folded into the stem (``W' = W·SCALE``, ``b' = b + SHIFT·ΣW``), so the images
    are only converted to float, in place of their NHWC layout (a channels_last view, which the
    convolution reads without reordering). Gradients reach ``stem.weight``/``bias`` through the
    folding, so training updates the same parameters as the reference path.
    """
    b = rgb.shape[0]
    x = rgb.reshape(b * NUM_VIEWS, *rgb.shape[2:]).permute(0, 3, 1, 2).float()
    w = stem.weight * RGB_SCALE
    bias = RGB_SHIFT * stem.weight.sum((1, 2, 3))
    if stem.bias is not None:
        bias = bias + stem.bias
    # contiguous NCHW: the CondConv layers after the stem are faster on it than on channels_last
    return F.conv2d(x, w, bias, stem.stride, 0, stem.dilation, stem.groups).contiguous()


class Gate(nn.Module):
    """``rgb (B, 8, H, W, 3) uint8``, ``target one-hot (B, T)`` → mixing weights ``(B, K)``."""

    def __init__(self, cfg: GateConfig, num_experts: int, num_targets: int, resolution: int) -> None:
        super().__init__()
        self.cfg, self.resolution, self.num_experts = cfg, resolution, num_experts
        ch = cfg.channels
        st = cfg.stem_stride
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], st, stride=st), nn.ReLU()]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [CondConv2d(cin, cout, 3, num_experts=cfg.cond_experts, stride=2, padding=1), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        extra = num_targets if cfg.sees_target else 0
        self.mlp = nn.Sequential(nn.Linear(ch[-1] * NUM_VIEWS + extra, cfg.hidden), nn.ReLU(),
                                 nn.Linear(cfg.hidden, num_experts))
        # start from uniform weights so every expert gets gradient early on
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        #: fold the input normalisation into the stem (:func:`fused_stem`); False: reference path
        self.fused_input = True

    def embed(self, rgb: torch.Tensor) -> torch.Tensor:
        """``rgb (B, 8, H, W, 3)`` → trunk features ``(B*8, C_last, h, w)``."""
        stem = self.trunk[0]
        fusable = (self.fused_input and rgb.shape[2] == rgb.shape[3] == self.resolution
                   and stem.padding == (0, 0) and stem.padding_mode == "zeros")
        if not fusable:
            return self.trunk(rgb_to_input(rgb, self.resolution))
        return self.trunk[1:](fused_stem(rgb, stem))

    def forward(self, rgb: torch.Tensor, target_onehot: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b = rgb.shape[0]
        z = self.embed(rgb).mean((2, 3)).reshape(b, -1)
        if self.cfg.sees_target:
            z = torch.cat([z, target_onehot], dim=-1)
        logits = self.mlp(z) / self.cfg.temperature
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.softmax(logits, dim=-1)
