"""Summaries of per-episode results: means with bootstrap 95% CIs, overall, per scene and per target."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from navfusion.common import HORIZON, SUCCESS_RADIUS, TARGETS
from navfusion.eval.stats import bootstrap_ci
from navfusion.markdown import markdown_table
from navfusion.nav.engine import EpisodeResults

#: (summary key, EpisodeResults column, with a CI?)
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("success", "success_reach", True),
    ("spl", "spl_reach", True),
    ("success_stop", "success_stop", True),
    ("spl_stop", "spl_stop", True),
    ("steps", "steps_reach", False),
    ("collisions", "collisions_reach", False),
    ("path_length", "path_reach", False),
)


def summarize_block(res: EpisodeResults, mask: np.ndarray | None = None, seed: int = 0,
                    n_boot: int = 2000) -> dict[str, Any]:
    """Means (and bootstrap CIs) of the metrics over the episodes selected by ``mask`` (E,) bool."""
    m = np.ones(len(res), bool) if mask is None else np.asarray(mask, bool)
    out: dict[str, Any] = {"episodes": int(m.sum())}
    for key, col, ci in METRICS:
        v = np.asarray(getattr(res, col), np.float64)[m]
        out[key] = float(v.mean()) if v.size else float("nan")
        if ci:
            out[f"{key}_ci"] = list(bootstrap_ci(v, seed=seed, n_boot=n_boot))
    return out


def summarize(res: EpisodeResults, scene: np.ndarray, seed: int = 0, n_boot: int = 2000) -> dict[str, Any]:
    """Overall, per-scene and per-target-category summaries.

    Args:
        res: all episodes (E,).
        scene: (E,) scene id strings of the episodes.
        seed: bootstrap seed (the same seed gives identical numbers).
    """
    scene = np.asarray(scene).astype(str)
    out = summarize_block(res, seed=seed, n_boot=n_boot)
    out["per_scene"] = {s: summarize_block(res, scene == s, seed=seed, n_boot=n_boot)
                        for s in sorted(set(scene.tolist()))}
    out["per_category"] = {}
    for t, name in enumerate(TARGETS):
        m = res.target == t
        if m.any():
            out["per_category"][name] = summarize_block(res, m, seed=seed, n_boot=n_boot)
    return out


def episodes_csv(res: EpisodeResults, scene: np.ndarray) -> str:
    """One CSV row per episode (scene, target name and every per-episode column)."""
    cols = res.scalar_fields()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(cols)
    w.writerow(["scene", "target_name", *names])
    for i in range(len(res)):
        row = [str(scene[i]), TARGETS[int(res.target[i])]]
        for k in names:
            v = cols[k][i]
            row.append(f"{float(v):.6g}" if isinstance(v, float | np.floating) else int(v))
        w.writerow(row)
    return buf.getvalue()


def fmt_ci(mean: float, ci, digits: int = 3) -> str:
    """``0.512 [0.480, 0.545]``."""
    if ci is None or any(np.isnan(c) for c in ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def summary_markdown(summary: dict[str, Any], title: str = "Evaluation") -> str:
    """A Markdown report of a summary: overall, per scene, per category."""
    lines = [f"# {title}", "", f"Episodes: {summary['episodes']}", ""]
    hdr = ["", "episodes", "success (reach)", "SPL (reach)", "success (stop)", "SPL (stop)", "steps", "collisions"]

    def row(name: str, s: dict[str, Any]) -> list[Any]:
        return [name, s["episodes"], fmt_ci(s["success"], s["success_ci"]), fmt_ci(s["spl"], s["spl_ci"]),
                fmt_ci(s["success_stop"], s["success_stop_ci"]), fmt_ci(s["spl_stop"], s["spl_stop_ci"]),
                f"{s['steps']:.1f}", f"{s['collisions']:.2f}"]

    rows = [row("all", summary)]
    rows += [row(f"scene {k}", s) for k, s in summary.get("per_scene", {}).items()]
    rows += [row(f"target {k}", s) for k, s in summary.get("per_category", {}).items()]
    lines.append(markdown_table(hdr, rows, right_from=1))
    lines.append("")
    lines.append(f"Success (reach): within {SUCCESS_RADIUS} steps of the goal within {HORIZON} actions (the paper's "
                 f"protocol); stop: success only when stop is called within {SUCCESS_RADIUS} steps. SPL uses path "
                 "lengths in steps. "
                 "Brackets: bootstrap 95% confidence intervals over episodes.")
    return "\n".join(lines) + "\n"
