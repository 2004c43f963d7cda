"""The report's tables as data: pooled statistics over seeds and episodes, cell formatting, and the
CSV / JSON / Markdown files of one table; validation curves from the runs' training logs.

Pure functions of the saved per-episode results and logs, so a finished folder re-derives
byte-identical tables.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.eval.stats import bootstrap_ci, mean_std
from navfusion.io import atomic_write_json, atomic_write_text
from navfusion.markdown import markdown_table
from navfusion.nav.engine import EpisodeResults


def pooled(results: list[tuple[EpisodeResults, np.ndarray]], n_boot: int) -> dict[str, Any]:
    """Mean ± std over seeds and the bootstrap CI over all episodes pooled, for success / SPL / stop success.

    ``results``: one (results, scene ids (E,)) pair per seed, as :func:`load_results` returns them.
    """
    out: dict[str, Any] = {"seeds": len(results), "episodes": int(sum(len(r) for r, _ in results))}
    for key, col in (("success", "success_reach"), ("spl", "spl_reach"), ("success_stop", "success_stop")):
        per_seed = [float(np.mean(getattr(r, col))) for r, _ in results]
        m, s = mean_std(per_seed)
        pooled_col = np.concatenate([getattr(r, col) for r, _ in results])
        out[key] = m
        out[f"{key}_std"] = s
        out[f"{key}_per_seed"] = per_seed
        out[f"{key}_ci"] = list(bootstrap_ci(pooled_col, n_boot=n_boot, seed=0))
    out["steps"] = float(np.mean(np.concatenate([r.steps_reach for r, _ in results])))
    out["collisions"] = float(np.mean(np.concatenate([r.collisions_reach for r, _ in results])))
    return out


def pm(m: float, s: float, seeds: int) -> str:
    """``mean ± std`` over seeds, or the mean alone for one seed."""
    return f"{m:.3f} ± {s:.3f}" if seeds > 1 else f"{m:.3f}"


def ci_text(ci) -> str:
    """A 95% interval ``(lo, hi)`` as ``[lo, hi]``."""
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    """The rows as CSV text (``\\n`` line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_table(out: Path, name: str, header: list[str], rows: list[list[Any]], data: Any) -> str:
    """``tables/<name>.md``, ``.csv`` and ``.json`` (``data``) under ``out``; returns the Markdown."""
    md = markdown_table(header, rows, right_from=1) + "\n"
    atomic_write_text(out / "tables" / f"{name}.md", md)
    atomic_write_text(out / "tables" / f"{name}.csv", csv_text(header, rows))
    atomic_write_json(out / "tables" / f"{name}.json", data)
    return md


def validation_curves(out: Path, cfg) -> dict[str, dict[int, list[list[float]]]]:
    """``{label: {seed: [[iteration, val_success], ...]}}`` from the runs' ``metrics.csv`` (agents with points)."""
    entries = [(k, e.label) for k, e in cfg.agents.items()]
    if cfg.single_experts is not None:
        entries.append(("single_experts", cfg.single_experts.label))
    curves: dict[str, dict[int, list[list[float]]]] = {}
    for key, label in entries:
        for seed in cfg.seeds:
            p = out / "runs" / f"{key}-s{seed}" / "metrics.csv"
            if not p.is_file():
                continue
            with open(p, newline="") as f:
                pts = [[int(r["iteration"]), float(r["val_success"])] for r in csv.DictReader(f)
                       if r.get("val_success") not in (None, "")]
            if len(pts) >= 2:
                curves.setdefault(label, {})[seed] = pts
    return curves


def argmax_iteration(pts: list[list[float]]) -> int:
    """The iteration of the highest validation point of ``[[iteration, value], ...]``."""
    return int(max(pts, key=lambda p: p[1])[0])


def plateau(pts: list[list[float]]) -> str:
    """Mean of the last third of the validation points minus that of the middle third."""
    v = [p[1] for p in pts]
    k = len(v) // 3
    if k < 1:
        return "—"
    return f"{np.mean(v[-k:]) - np.mean(v[-2 * k:-k]):+.3f}"
