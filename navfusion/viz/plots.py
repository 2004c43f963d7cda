"""Figures of the report (matplotlib, Agg backend): every function writes one PNG and returns its path.

All inputs are plain arrays so the figures can be drawn from saved results (and tested on
synthetic data) without a model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from navfusion.io import atomic_path
from navfusion.scenes.topdown import draw_topdown
from navfusion.vision.tasks import TASK_SPECS

#: Colours of the representation groups (navfusion.vision.tasks.GROUPS) and a fallback.
GROUP_COLORS: dict[str, str] = {"3d": "#1f77b4", "2d": "#ff7f0e", "semantic": "#2ca02c",
                                "geometric": "#9467bd", "other": "#7f7f7f"}
GROUP_LABELS: dict[str, str] = {"3d": "3D", "2d": "2D", "semantic": "semantic", "geometric": "low-level geometric",
                                "other": "other"}


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def group_of(name: str) -> str:
    """Group of a representation name (``other`` for a name that is not a vision task)."""
    # Zoo-qualified names ("nf5/normal") are grouped by their task.
    spec = TASK_SPECS.get(name.rsplit("/", 1)[-1])
    return "other" if spec is None else spec.group


def group_handles(groups: Sequence[str]) -> list:
    """Legend patches for the representation groups present in ``groups``, in ``GROUP_COLORS`` order."""
    from matplotlib.patches import Patch

    present = set(groups)
    return [Patch(color=GROUP_COLORS[g], label=GROUP_LABELS[g]) for g in GROUP_COLORS if g in present]


def table_bars(labels: Sequence[str], mean: Sequence[float], lo: Sequence[float], hi: Sequence[float],
               path: str | os.PathLike, ylabel: str = "success (unseen scenes)", title: str = "") -> Path:
    """A bar per agent with its 95% CI (the Table-1 analogue as a figure)."""
    m = np.asarray(mean, float)
    err = np.stack([m - np.asarray(lo, float), np.asarray(hi, float) - m]).clip(min=0)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(labels), 3.4))
    ax.bar(range(len(labels)), m, yerr=np.nan_to_num(err), capsize=3, color="#4c72b0")
    ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def single_expert_bars(names: Sequence[str], success: Sequence[float], lo: Sequence[float],
                       hi: Sequence[float], groups: Sequence[str], path: str | os.PathLike,
                       reference: Mapping[str, float] | None = None) -> Path:
    """Single-expert success, sorted descending, coloured by group; optional horizontal reference lines."""
    s = np.asarray(success, float)
    order = np.argsort(-s, kind="stable")
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.38 * n + 1.5), 3.8))
    cols = [GROUP_COLORS.get(groups[i], GROUP_COLORS["other"]) for i in order]
    m = s[order]
    err = np.stack([m - np.asarray(lo, float)[order], np.asarray(hi, float)[order] - m]).clip(min=0)
    ax.bar(range(n), m, yerr=np.nan_to_num(err), capsize=2, color=cols)
    ax.set_xticks(range(n), [names[i] for i in order], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("success (unseen scenes)")
    ax.set_ylim(0, 1)
    for j, (label, v) in enumerate((reference or {}).items()):
        ax.axhline(v, ls="--", lw=1, color=f"C{3 + j}", label=label)
    h2, _ = ax.get_legend_handles_labels()
    ax.legend(handles=group_handles(groups) + h2, fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Single-expert success, sorted and grouped")
    return _save(fig, path)


def robustness_curves(curves: Mapping[str, Mapping[str, Sequence[Sequence[float]]]], path: str | os.PathLike) -> Path:
    """Success vs share of representations dropped / noised at test time.

    Args:
        curves: ``{agent_label: {mode: [[share, success, lo, hi], ...]}}`` with mode ``drop`` or ``noise``.
    """
    modes = sorted({m for c in curves.values() for m in c})
    fig, axes = plt.subplots(1, max(1, len(modes)), figsize=(4.4 * max(1, len(modes)), 3.4), squeeze=False,
                             layout="constrained")
    for ax, mode in zip(axes[0], modes):
        for j, (label, c) in enumerate(curves.items()):
            if mode not in c:
                continue
            a = np.asarray(c[mode], float).reshape(-1, 4)
            ax.plot(a[:, 0], a[:, 1], "o-", color=f"C{j}", label=label)
            ax.fill_between(a[:, 0], a[:, 2], a[:, 3], color=f"C{j}", alpha=0.15)
        ax.set_xlabel(f"share of representations {'dropped' if mode == 'drop' else 'noised'}")
        ax.set_ylabel("success")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"Robustness: {mode}")
    return _save(fig, path)


def validation_curves(curves: Mapping[str, Mapping[int, Sequence[Sequence[float]]]], path: str | os.PathLike) -> Path:
    """Validation success during training, one line per training seed, one colour per agent.

    Args:
        curves: ``{agent_label: {seed: [[iteration, val_success], ...]}}``.
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for j, (label, per_seed) in enumerate(curves.items()):
        for i, (_, pts) in enumerate(sorted(per_seed.items())):
            a = np.asarray(pts, float).reshape(-1, 2)
            ax.plot(a[:, 0], a[:, 1], "o-", ms=3, lw=1, color=f"C{j}", alpha=0.85,
                    label=label if i == 0 else None)
    ax.set_xlabel("training iteration")
    ax.set_ylabel("success on the val split")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Validation curves (one line per training seed)")
    return _save(fig, path)


def gate_bars(weights: Mapping[str, Sequence[float]], names: Sequence[str], path: str | os.PathLike) -> Path:
    """Mean gate weight per representation, one small panel per scene."""
    scenes = list(weights)
    k = len(names)
    fig, axes = plt.subplots(len(scenes), 1, figsize=(max(4.0, 0.35 * k + 1.5), 1.9 * len(scenes) + 0.6),
                             squeeze=False, sharex=True)
    groups = [group_of(n) for n in names]
    cols = [GROUP_COLORS.get(g, GROUP_COLORS["other"]) for g in groups]
    for ax, s in zip(axes[:, 0], scenes):
        ax.bar(range(k), np.asarray(weights[s], float), color=cols)
        ax.axhline(1.0 / k, ls=":", color="k", lw=0.8, label=f"uniform gate (1/{k})")
        ax.set_ylabel("weight", fontsize=8)
        ax.set_title(str(s), fontsize=9)
    handles = group_handles(groups)
    line, _ = axes[0, 0].get_legend_handles_labels()
    # above the first panel: inside it would hide bars
    axes[0, 0].legend(handles=handles + line, fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.12),
                      ncol=min(5, len(handles) + 1), frameon=False)
    axes[-1, 0].set_xticks(range(k), names, rotation=60, ha="right", fontsize=8)
    return _save(fig, path)


def gate_heatmap(matrix: np.ndarray, scenes: Sequence[str], names: Sequence[str], path: str | os.PathLike) -> Path:
    """Scene × representation heatmap of the mean gate weight (S, K)."""
    m = np.asarray(matrix, float)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(names) + 2), 0.4 * len(scenes) + 1.8))
    im = ax.imshow(m, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(scenes)), [str(s) for s in scenes], fontsize=8)
    fig.colorbar(im, ax=ax, label="mean gate weight")
    ax.set_title("Gate weight per scene and representation")
    return _save(fig, path)


def topdown_values(positions: np.ndarray, values: np.ndarray, path: str | os.PathLike, title: str = "",
                   label: str = "gate weight", scene=None, trajectory: np.ndarray | None = None) -> Path:
    """Top-down map: every node (N, 3) coloured by ``values`` (N,); NaN nodes are grey.

    When ``scene`` is given and ``navfusion.scenes.topdown.draw_topdown`` exists, the floor plan
    is drawn underneath.
    """
    pos = np.asarray(positions, float)
    v = np.asarray(values, float)
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    floorplan_underlay(ax, scene)
    ok = np.isfinite(v)
    if (~ok).any():
        ax.scatter(pos[~ok, 0], pos[~ok, 1], s=6, c="#cccccc")
    sc = ax.scatter(pos[ok, 0], pos[ok, 1], s=10, c=v[ok], cmap="magma")
    if trajectory is not None and len(trajectory):
        t = pos[np.asarray(trajectory)]
        ax.plot(t[:, 0], t[:, 1], "-", color="cyan", lw=1.5)
    fig.colorbar(sc, ax=ax, label=label)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    return _save(fig, path)


def floorplan_underlay(ax, scene) -> None:
    """Draw the scene's floor plan (walls, rooms) under a top-down plot; nothing when ``scene`` is None."""
    if scene is None:
        return
    draw_topdown(ax, scene)


def openness_scatter(openness: np.ndarray, series: Mapping[str, np.ndarray], stats: Mapping[str, Sequence[float]],
                     path: str | os.PathLike) -> Path:
    """Openness (distance to the nearest obstacle, m) vs group gate weight, one panel per group.

    Args:
        openness: (N,) per visited node.
        series: ``{group: (N,) weight}``.
        stats: ``{group: (r, lo, hi, p)}`` from ``correlation_ci``.
    """
    groups = list(series)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.4 * len(groups), 3.4), squeeze=False,
                             layout="constrained")
    x = np.asarray(openness, float)
    for ax, g in zip(axes[0], groups):
        y = np.asarray(series[g], float)
        ax.scatter(x, y, s=5, alpha=0.35, color=GROUP_COLORS.get(g, "k"))
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= 2 and np.std(x[ok]) > 0:
            b = np.polyfit(x[ok], y[ok], 1)
            xs = np.linspace(x[ok].min(), x[ok].max(), 20)
            ax.plot(xs, np.polyval(b, xs), "k-", lw=1)
        r, lo, hi, _ = (list(stats.get(g, [])) + [np.nan] * 4)[:4]
        ax.set_title(f"{GROUP_LABELS.get(g, g)}: r = {r:.2f} [{lo:.2f}, {hi:.2f}]", fontsize=9)
        ax.set_xlabel("openness: distance to nearest obstacle (m)")
        ax.set_ylabel(f"{GROUP_LABELS.get(g, g)} group weight")
        ax.grid(alpha=0.3)
    return _save(fig, path)
