"""Episode animation: the 8 views, the top-down map with the trajectory, and the gate weights per step."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from navfusion.common import MOVE_NAMES
from navfusion.io import atomic_path
from navfusion.viz.plots import GROUP_COLORS, group_of

#: Where each of the 8 views goes in a 3×3 compass layout (row, col); the centre holds the map.
_COMPASS = {0: (1, 2), 1: (0, 2), 2: (0, 1), 3: (0, 0), 4: (1, 0), 5: (2, 0), 6: (2, 1), 7: (2, 2)}


def _fig_to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())
    return buf[..., :3].copy()


def episode_frames(views: np.ndarray, positions: np.ndarray, trajectory: np.ndarray, gates: np.ndarray | None,
                   names: Sequence[str], goal_nodes: np.ndarray | None = None, title: str = "") -> list[np.ndarray]:
    """Render one frame per step.

    Args:
        views: (T, 8, H, W, 3) uint8, the 8 views at each visited node (view k looks along move k).
        positions: (N, 3) node positions.
        trajectory: (T,) node ids visited (T = steps + 1).
        gates: (T, K) gate weights per step (NaN where none), or None.
        names: K representation names.
        goal_nodes: node ids of the goal (drawn as stars).
    """
    pos = np.asarray(positions, float)
    T = len(trajectory)
    frames = []
    k = len(names)
    cols = [GROUP_COLORS.get(group_of(n), GROUP_COLORS["other"]) for n in names]
    for t in range(T):
        fig = plt.figure(figsize=(9.0, 4.2), dpi=72)
        gs = fig.add_gridspec(3, 5, width_ratios=[1, 1, 1, 0.15, 2.2])
        for v, (r, c) in _COMPASS.items():
            ax = fig.add_subplot(gs[r, c])
            ax.imshow(views[t, v])
            ax.set_axis_off()
            ax.set_title(MOVE_NAMES[v], fontsize=7, pad=1)
        ax = fig.add_subplot(gs[1, 1])
        ax.scatter(pos[:, 0], pos[:, 1], s=1, c="#bbbbbb")
        if goal_nodes is not None and len(goal_nodes):
            g = pos[np.asarray(goal_nodes)]
            ax.scatter(g[:, 0], g[:, 1], s=8, marker="*", c="red")
        tr = pos[np.asarray(trajectory[: t + 1])]
        ax.plot(tr[:, 0], tr[:, 1], "-", c="blue", lw=1)
        ax.scatter(tr[-1:, 0], tr[-1:, 1], s=14, c="blue")
        ax.set_aspect("equal")
        ax.set_axis_off()
        axg = fig.add_subplot(gs[:, 4])
        if gates is not None and t < len(gates) and np.isfinite(gates[t]).all():
            axg.barh(range(k), gates[t], color=cols)
            axg.set_xlim(0, max(0.3, float(np.nanmax(gates)) * 1.05))
        axg.set_yticks(range(k), names, fontsize=6)
        axg.invert_yaxis()
        axg.set_title(f"gate weights, step {t}", fontsize=8)
        fig.suptitle(title, fontsize=9)
        frames.append(_fig_to_array(fig))
        plt.close(fig)
    return frames


def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 3.0) -> Path:
    """Write frames (H, W, 3) uint8 as a looping GIF atomically."""
    path = Path(path)
    h = min(f.shape[0] for f in frames)
    w = min(f.shape[1] for f in frames)
    with atomic_path(path) as tmp:
        imageio.mimsave(tmp, [f[:h, :w] for f in frames], format="GIF", duration=1.0 / fps, loop=0)
    return path
