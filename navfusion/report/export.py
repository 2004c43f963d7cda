"""``--export-docs``: a finished reproduction's tables and main figures copied into a docs folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from navfusion.io import atomic_write_text


def export_paths(docs: str | Path) -> tuple[Path, Path]:
    """``(page, figure folder)`` of ``--export-docs``: a folder ``DIR`` gives ``DIR/results.md`` +
    ``DIR/figures/``; a page ``DIR/results-NAME.md`` gives that page + ``DIR/figures/NAME/`` (so
    several recipes' pages share one docs folder)."""
    docs = Path(docs)
    if docs.suffix == ".md":
        return docs, docs.parent / "figures" / docs.stem.removeprefix("results-")
    return docs / "results.md", docs / "figures"


def export_docs(out: str | Path, docs: str | Path, command: str) -> Path:
    """Copy a finished reproduction's tables and main figures into ``docs`` (see :func:`export_paths`).

    ``command`` is the command line that produced ``out`` (quoted in the page).
    """
    out = Path(out)
    page, figs = export_paths(docs)
    figs.mkdir(parents=True, exist_ok=True)
    link = figs.relative_to(page.parent).as_posix()
    picks = [("figures/table1.png", "Success on unseen scenes (95% CI)"),
             ("figures/single_experts.png", "Single-expert success, sorted and grouped"),
             ("figures/robustness.png", "Robustness to dropped / noised representations"),
             ("situational/figures/gate_heatmap.png", "Mean gate weight per scene and representation"),
             ("situational/figures/openness.png", "Openness vs 3D / semantic group weight"),
             ("situational/figures/episode.gif", "An episode: views, map and trajectory, gate weights")]
    maps = sorted((out / "situational" / "figures").glob("map_*.png"))[:2]
    picks += [(str(m.relative_to(out)), "Group gate weight at every node") for m in maps]
    lines = ["# Results", "", f"Made by `{command}` (see the report `index.html` in the output folder for CIs "
             "per scene/target, the recipe, versions and hardware).", ""]
    body = (out / "results.md").read_text() if (out / "results.md").is_file() else ""
    note = (out / "caveat.txt").read_text().strip() if (out / "caveat.txt").is_file() else ""
    if note:
        lines += [f"> {note}", ""]
    run = f"{out.as_posix()}/runs/action_fusion-s0"
    lines += [body, "## Commands", "", "```bash",
              f"{command}   # this page",
              f"navfusion evaluate {run} --split test --json   # one trained agent again",
              f"navfusion visualize {run} --out runs/fusion-weights   # its fusion weights",
              "navfusion quickstart                                     # the 15-minute CPU recipe",
              "navfusion reproduce configs/standard.yaml --out runs/standard  # decisive CPU recipe (~1 h, 2 cores)",
              "navfusion reproduce configs/paper.yaml --out runs/paper  # paper scale, for a GPU (caches ~39 GB)",
              "```", "", "## Figures", ""]
    for rel, cap in picks:
        src = out / rel
        if not src.is_file():
            continue
        dst = figs / src.name
        shutil.copyfile(src, dst)
        lines += [f"![{cap}]({link}/{dst.name})", "", f"*{cap}*", ""]
    atomic_write_text(page, "\n".join(lines))
    return page
