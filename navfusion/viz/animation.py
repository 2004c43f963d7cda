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
from navfusion.viz.plots import GROUP_COLORS, floorplan_underlay, group_handles, group_of

#: Where each of the 8 views goes in a 3×3 compass layout (row, col); the centre holds the map.
_COMPASS = {0: (1, 2), 1: (0, 2), 2: (0, 1), 3: (0, 0), 4: (1, 0), 5: (2, 0), 6: (2, 1), 7: (2, 2)}


def _fig_to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())
    return buf[..., :3].copy()


def episode_frames(views: np.ndarray, positions: np.ndarray, trajectory: np.ndarray, gates: np.ndarray | None,
                   names: Sequence[str], goal_nodes: np.ndarray | None = None, title: str = "",
                   max_frames: int = 40, scene=None) -> list[np.ndarray]:
    """Render one frame per step (the figure is built once and its artists updated per frame).

    Args:
        views: (T, 8, H, W, 3) uint8, the 8 views at each visited node (view k looks along move k).
        positions: (N, 3) node positions.
        trajectory: (T,) node ids visited (T = steps + 1).
        gates: (T, K) gate weights per step (NaN where none), or None.
        names: K representation names.
        goal_nodes: node ids of the goal (drawn as stars).
        max_frames: at most this many frames (the first ones).
        scene: the ``Scene``, to draw its floor plan (walls) under the map.
    """
    pos = np.asarray(positions, float)
    T = min(len(trajectory), max_frames)
    k = len(names)
    cols = [GROUP_COLORS.get(group_of(n), GROUP_COLORS["other"]) for n in names]
    fig = plt.figure(figsize=(12.0, 4.4), dpi=72)
    gs = fig.add_gridspec(3, 7, width_ratios=[1, 1, 1, 0.1, 3.2, 1.1, 1.8], wspace=0.15)
    ims = []
    for v, (r, c) in _COMPASS.items():
        ax = fig.add_subplot(gs[r, c])
        ims.append(ax.imshow(views[0, v]))
        ax.set_axis_off()
        ax.set_title(MOVE_NAMES[v], fontsize=9, pad=1)
    ax = fig.add_subplot(gs[1, 1])
    ax.text(0.5, 0.5, "views\n(world-aligned)", ha="center", va="center", fontsize=9, transform=ax.transAxes)
    ax.set_axis_off()
    ax = fig.add_subplot(gs[:, 4])
    floorplan_underlay(ax, scene)
    ax.scatter(pos[:, 0], pos[:, 1], s=4, c="#bbbbbb", label="graph nodes")
    if goal_nodes is not None and len(goal_nodes):
        g = pos[np.asarray(goal_nodes)]
        ax.scatter(g[:, 0], g[:, 1], s=30, marker="*", c="red", label="goal")
    (line,) = ax.plot([], [], "-", c="blue", lw=1.5, label="path so far")
    (dot,) = ax.plot([], [], "o", c="blue", ms=5, label="agent")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, frameon=False)
    ax.set_aspect("equal")
    ax.set_axis_off()
    axg = fig.add_subplot(gs[:, 6])
    g_all = np.zeros((T, k)) if gates is None else np.nan_to_num(np.asarray(gates, float)[:T])
    bars = axg.barh(range(k), g_all[0], color=cols)
    axg.set_xlim(0, max(0.3, float(g_all.max()) * 1.05 if g_all.size else 0.3))
    axg.set_yticks(range(k), names, fontsize=8)
    axg.tick_params(axis="x", labelsize=8)
    axg.invert_yaxis()
    axg.legend(handles=group_handles([group_of(n) for n in names]), fontsize=7,
               loc="upper center", bbox_to_anchor=(0.3, -0.07), ncol=4, frameon=False, columnspacing=0.8)
    gtitle = axg.set_title("", fontsize=9)
    fig.suptitle(title, fontsize=11)
    frames = []
    for t in range(T):
        for v in range(8):
            ims[v].set_data(views[t, v])
        tr = pos[np.asarray(trajectory[: t + 1])]
        line.set_data(tr[:, 0], tr[:, 1])
        dot.set_data(tr[-1:, 0], tr[-1:, 1])
        for b, h in zip(bars, g_all[t]):
            b.set_width(h)
        gtitle.set_text(f"gate weights, step {t}")
        frames.append(_fig_to_array(fig))
    plt.close(fig)
    return frames


def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 3.0) -> Path:
    """Write frames (H, W, 3) uint8 as a looping GIF atomically."""
    path = Path(path)
    h = min(f.shape[0] for f in frames)
    w = min(f.shape[1] for f in frames)
    with atomic_path(path) as tmp:  # imageio >= 2.28 reads a GIF's duration in milliseconds
        imageio.mimsave(tmp, [f[:h, :w] for f in frames], format="GIF", duration=1000.0 / fps, loop=0)
    return path
