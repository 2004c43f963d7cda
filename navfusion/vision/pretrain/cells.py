"""Per-cell statistics of a dense label: the auxiliary target of ``cell_targets`` tasks.

A dense task's decoder reads the encoder's ``(C, g, g)`` output through several layers, so the
frozen features can carry a depth map in a code only that decoder reads. A policy reads the
features directly; what it needs per cell is a few plain numbers (how near is the nearest surface
in that part of the view, how much of it is floor). Regressing those numbers from the encoder
output through a 1x1 convolution keeps them linearly readable. They are computed from the task's
own label at the cached resolution (e.g. 32x32 pooled to an 8x8 grid: 4x4 pixels per cell):

* one-channel regression labels (depth, shading, edge maps): the means of the cell's four
  quadrants, then its min, max, standard deviation and mean (8 values, as the task's ``gt/``
  reference); depth is capped at ``DEPTH_MAX`` metres and read as ``DEPTH_MAX`` where there is no
  surface, other masked labels read 0;
* multi-channel regression labels (normals, curvatures): per channel the cell's mean, min, max and
  standard deviation;
* semantic segmentation: the share of the cell covered by each of the 8 groups of the
  ``gt/segment_semantic`` reference (the four targets, floor, wall, other objects, ceiling and no
  surface): the classes a policy tells apart, instead of all 20-odd categories competing for the
  output's 8 channels.
"""

from __future__ import annotations

import numpy as np
import torch

from navfusion.vision.references import GT_CHANNELS, capped_depth, cell_stats, channel_stats, semantic_shares
from navfusion.vision.tasks import TaskSpec

_DEPTH_TASKS = ("depth_zbuffer", "depth_euclidean")


def cell_channels(spec: TaskSpec) -> int:
    """Number of per-cell statistics of a dense task's label."""
    if spec.classification:
        return GT_CHANNELS
    return 8 if spec.channels == 1 else 4 * spec.channels


def cell_statistics(spec: TaskSpec, target: np.ndarray, mask: np.ndarray | None, grid: int) -> np.ndarray:
    """Dense labels -> per-cell statistics ``(N, cell_channels(spec), grid, grid)`` float32.

    ``target``: (N, C, H, W) values or (N, H, W) class ids, ``mask``: (N, H, W) or None; ``H`` and
    ``W`` must be multiples of ``2 * grid`` for one-channel labels (quadrants), of ``grid`` otherwise.
    """
    if spec.classification:
        return semantic_shares(np.asarray(target)).astype(np.float32)
    t = np.asarray(target, np.float32)
    if mask is not None:
        t = np.where(mask[:, None], t, 0.0)  # masked pixels: no surface for depth, 0 otherwise
    if spec.name in _DEPTH_TASKS:
        t = capped_depth(t)
    if t.shape[1] == 1:  # the gt/ references' mapping of a scalar map
        return cell_stats(t[:, 0], grid)
    return channel_stats(t, grid).astype(np.float32)


class CellTargets:
    """A task's per-cell statistics over its training set, standardised per channel.

    ``values``: (N, K, g, g) float32 standardised; ``mean``/``std``: (K,) of the raw statistics.
    """

    def __init__(self, spec: TaskSpec, target: np.ndarray, mask: np.ndarray | None, grid: int,
                 chunk: int = 2048) -> None:
        raw = np.concatenate([cell_statistics(spec, target[i:i + chunk], None if mask is None else mask[i:i + chunk],
                                              grid) for i in range(0, len(target), chunk)])
        self.mean = raw.mean((0, 2, 3)).astype(np.float32)
        self.std = np.maximum(raw.std((0, 2, 3)), 1e-3).astype(np.float32)
        self.values = self.standardise(raw)

    def batch(self, idx: np.ndarray) -> torch.Tensor:
        """Standardised statistics of samples ``idx``: (B, K, g, g)."""
        return torch.from_numpy(self.values[idx])

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """Raw statistics (N, K, g, g) in units of the training statistics' standard deviation."""
        return (raw - self.mean[None, :, None, None]) / self.std[None, :, None, None]
