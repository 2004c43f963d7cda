"""Evaluate a loaded agent on a list of scenes with the batched evaluator and write the outputs."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.common import HORIZON, SUCCESS_RADIUS
from navfusion.eval.backend import LoadedAgent, SceneData
from navfusion.eval.metrics import episodes_csv, summarize, summary_markdown
from navfusion.io import atomic_path, atomic_write_json, atomic_write_text
from navfusion.nav.engine import EpisodeResults, run_batched


def eval_seed(*parts: Any) -> int:
    """A stable seed from names/numbers (for per-scene evaluation RNGs)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def evaluate_agent(agent: LoadedAgent, scenes: list[SceneData], *, episodes_per_scene: int, seed: int,
                   horizon: int = HORIZON, radius: int = SUCCESS_RADIUS, record: bool = False, **policy_kw: Any
                   ) -> tuple[EpisodeResults, np.ndarray, list[EpisodeResults]]:
    """Run ``agent`` on the first ``episodes_per_scene`` episodes of each scene.

    Returns:
        all episodes concatenated (E,), their scene ids (E,), and the per-scene results (with
        trajectories/gates when ``record``).
    """
    parts, names = [], []
    for sd in scenes:
        eps = sd.episodes.subset(min(episodes_per_scene, len(sd.episodes)))
        pol = agent.policy(sd, seed=eval_seed(seed, sd.scene_id), **policy_kw)
        r = run_batched(sd.arrays, eps, pol, horizon=horizon, radius=radius, record=record)
        parts.append(r)
        names += [sd.scene_id] * len(eps)
    return EpisodeResults.concat(parts), np.asarray(names), parts


def save_results(out_dir: str | Path, res: EpisodeResults, scene: np.ndarray, title: str,
                 n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Write ``summary.json``, ``summary.md``, ``episodes.csv`` and ``episodes.npz``; returns the summary."""
    out_dir = Path(out_dir)
    summary = summarize(res, scene, seed=seed, n_boot=n_boot)
    atomic_write_text(out_dir / "episodes.csv", episodes_csv(res, scene))
    with atomic_path(out_dir / "episodes.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, scene=scene.astype(str), **res.scalar_fields())
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary, title=title))
    atomic_write_json(out_dir / "summary.json", summary)
    return summary


def load_results(out_dir: str | Path) -> tuple[EpisodeResults, np.ndarray]:
    """Read back ``episodes.npz`` written by :func:`save_results`."""
    with np.load(Path(out_dir) / "episodes.npz") as z:
        cols = {k: z[k] for k in z.files if k != "scene"}
        scene = z["scene"]
    return EpisodeResults(**cols), scene
