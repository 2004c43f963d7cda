"""Tables (CSV / JSON / Markdown), figures and ``index.html`` of a reproduction, from its saved results.

Everything here is a pure function of the files under the output folder, so re-running on a
finished folder writes byte-identical tables. Each part of the report (Table 1, the verdicts,
single experts, robustness, situational weights, validation curves, runs, recipe, versions) is one
function returning its HTML section and its lines of ``results.md``; :func:`write_report` joins them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.eval.evaluate import load_results
from navfusion.io import atomic_write_json, atomic_write_text, hash_jsonable
from navfusion.report.backend import Backend
from navfusion.report.findings import HEADER, RULE, compute_findings, findings_json, findings_markdown
from navfusion.report.recipe import ReproduceConfig
from navfusion.report.tables import (
    argmax_iteration,
    ci_text,
    plateau,
    pm,
    pooled,
    validation_curves,
    write_table,
)
from navfusion.viz import plots
from navfusion.viz.html import Section, environment_info, write_html


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` made: the page, and the Markdown of Table 1 and of the verdicts
    (the command line prints both)."""

    index: Path
    table_markdown: str
    findings_markdown: str


class _FigureCache:
    """Skips re-drawing a figure whose inputs are unchanged (fingerprints in ``figures/manifest.json``)."""

    def __init__(self, root: Path):
        self.path = root / "manifest.json"
        try:
            self.fps = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            self.fps = {}

    def draw(self, path: Path, inputs: Any, fn: Callable[[], Any]) -> None:
        fp = hash_jsonable(inputs)
        if path.is_file() and self.fps.get(path.name) == fp:
            return
        fn()
        self.fps[path.name] = fp
        atomic_write_json(self.path, self.fps)


@dataclass(frozen=True)
class _Context:
    """What every part of the report reads: the recipe, the output folder, the test scenes."""

    cfg: ReproduceConfig
    out: Path
    scenes: list[str]
    #: Which scenes the evaluation used, in words (:func:`test_scenes_text`).
    where: str
    figures: _FigureCache

    @property
    def figs(self) -> Path:
        return self.out / "figures"


@dataclass
class _Part:
    """One part of the report: its HTML section and its lines of ``results.md`` (none for some)."""

    section: Section
    markdown: list[str] = field(default_factory=list)


def write_report(out: str | Path, cfg: ReproduceConfig, backend: Backend, test_block: Any = None) -> Report:
    """Write all tables, figures and ``index.html`` for a finished reproduction in ``out``.

    ``backend`` is the one that ran it (its test scenes, name and versions enter the report);
    ``test_block`` the fresh seed block evaluated instead of the recipe's split, if any.
    """
    out = Path(out)
    ctx = _Context(cfg, out, backend.test_scenes(cfg), test_scenes_text(cfg, test_block), _FigureCache(out / "figures"))
    t1 = {key: {"label": entry.label, "agent": entry.agent,
                **pooled([load_results(out / "eval" / f"{key}-s{s}") for s in cfg.seeds], cfg.bootstrap)}
          for key, entry in cfg.agents.items()}
    table1, table_md = _table1(ctx, t1, backend.name)
    verdicts, findings_md = _findings(ctx)
    parts = [table1, verdicts]
    for part in (_single_experts(ctx, t1), _robustness(ctx), _situational(ctx), _validation(ctx)):
        if part is not None:
            parts.append(part)
    parts += [_runs(out), _recipe(out), _versions(out, backend.versions())]
    atomic_write_text(out / "results.md", "\n".join(line for p in parts for line in p.markdown))
    index = write_html(out / "index.html", f"navfusion reproduction: {cfg.name}", [p.section for p in parts])
    return Report(index, table_md, findings_md)


def _table1(ctx: _Context, t1: dict[str, dict[str, Any]], backend_name: str) -> tuple[_Part, str]:
    """Table 1 (every agent on the unseen scenes) and its figure; also its Markdown alone."""
    cfg, out, figs = ctx.cfg, ctx.out, ctx.figs
    header = ["Method", "Success", "Success 95% CI", "SPL", "SPL 95% CI", "Success (stop)", "Steps",
              "Collisions", "Episodes", "Seeds"]
    rows = [[v["label"], pm(v["success"], v["success_std"], v["seeds"]), ci_text(v["success_ci"]),
             pm(v["spl"], v["spl_std"], v["seeds"]), ci_text(v["spl_ci"]),
             pm(v["success_stop"], v["success_stop_std"], v["seeds"]), f"{v['steps']:.1f}",
             f"{v['collisions']:.2f}", v["episodes"], v["seeds"]] for v in t1.values()]
    md = write_table(out, "table1", header, rows, [{"key": k, **v} for k, v in t1.items()])
    args = ([v["label"] for v in t1.values()], [v["success"] for v in t1.values()],
            [v["success_ci"][0] for v in t1.values()], [v["success_ci"][1] for v in t1.values()])
    ctx.figures.draw(figs / "table1.png", args,
                     lambda: plots.table_bars(*args, figs / "table1.png", title="Success on unseen scenes"))
    s = Section("Table 1: navigation on unseen scenes")
    if cfg.small_sample or backend_name == "synthetic":
        caveat = _caveat(cfg, backend_name, len(ctx.scenes))
        s.note(caveat)
        atomic_write_text(out / "caveat.txt", caveat + "\n")
    s.p(f"{ctx.where}: {len(ctx.scenes)} unseen scenes, up to "
        f"{cfg.episodes_per_scene} episodes each; success = within {cfg.success_radius} steps of the goal within "
        f"{cfg.horizon} actions (the paper's protocol); SPL with path lengths in steps. "
        + (f"Mean ± std over {len(cfg.seeds)} training seeds; 95% CIs: bootstrap over all episodes pooled "
           "across seeds." if len(cfg.seeds) > 1 else
           "One training seed (no spread over seeds is measured); 95% CIs: bootstrap over episodes."))
    s.table(header, rows).img("figures/table1.png", "Success with 95% CI")
    return _Part(s, ["## Table 1: navigation on unseen scenes", "", md]), md


def _findings(ctx: _Context) -> tuple[_Part, str]:
    """The verdicts on the paper's findings (and ``findings.json``); also their Markdown table alone."""
    cfg, nb, n_scenes = ctx.cfg, ctx.cfg.bootstrap, len(ctx.scenes)
    found = compute_findings(ctx.out, cfg)
    atomic_write_json(ctx.out / "findings.json", findings_json(
        found, recipe=cfg.name, test_scenes=ctx.where, scenes=n_scenes, seeds=list(cfg.seeds), bootstrap=nb))
    md = findings_markdown(found)
    s = Section("Verdicts on the paper's findings")
    s.p(RULE + f" {nb} bootstrap draws; {n_scenes} test scenes ({ctx.where}).")
    if n_scenes < 6:
        s.note(f"Only {n_scenes} test scenes: the scene-level bootstrap is coarse, so most findings cannot be "
               "decided here (inconclusive is the honest answer); configs/standard.yaml is sized to decide.")
    s.table(HEADER, [f.cells() for f in found])
    notes = [f"({f.id}) {f.note}" for f in found if f.note]
    lines = ["## Verdicts on the paper's findings", "", RULE, "", md]
    if notes:
        s.p("Notes: " + "; ".join(notes) + ". Details per finding: findings.json.")
        lines += ["Notes: " + "; ".join(notes) + ".", ""]
    return _Part(s, lines), md


def _single_experts(ctx: _Context, t1: dict[str, dict[str, Any]]) -> _Part | None:
    """Each representation's expert alone, sorted, against the fusion agents of Table 1."""
    cfg, out, figs, nb = ctx.cfg, ctx.out, ctx.figs, ctx.cfg.bootstrap
    if cfg.single_experts is None:
        return None
    names = json.loads((out / "eval" / f"single_experts-s{cfg.seeds[0]}" / "experts.json").read_text())
    se = {n: {"group": plots.group_of(n),
              **pooled([load_results(out / "eval" / f"single_experts-s{s}" / n) for s in cfg.seeds], nb)}
          for n in names}
    order = sorted(names, key=lambda n: -se[n]["success"])
    header = ["Representation", "Group", "Success", "Success 95% CI", "SPL"]
    rows = [[n, plots.GROUP_LABELS.get(se[n]["group"], se[n]["group"]),
             pm(se[n]["success"], se[n]["success_std"], se[n]["seeds"]), ci_text(se[n]["success_ci"]),
             f"{se[n]['spl']:.3f}"] for n in order]
    md = write_table(out, "single_experts", header, rows, [{"representation": n, **se[n]} for n in order])
    ref = {v["label"]: v["success"] for k, v in t1.items() if k in ("action_fusion", "action_fusion_affinity")}
    args = (names, [se[n]["success"] for n in names], [se[n]["success_ci"][0] for n in names],
            [se[n]["success_ci"][1] for n in names], [se[n]["group"] for n in names])
    ctx.figures.draw(figs / "single_experts.png", [args, ref],
                     lambda: plots.single_expert_bars(*args, figs / "single_experts.png", reference=ref))
    grp: dict[str, list[float]] = {}
    for n in names:
        grp.setdefault(se[n]["group"], []).append(se[n]["success"])
    s = Section("Single experts")
    s.p("Each representation alone drives one expert policy (trained together as one ExpertBank with separate "
        "losses). Group means: " + "; ".join(f"{plots.GROUP_LABELS.get(g, g)} {np.mean(v):.3f}"
                                            for g, v in sorted(grp.items(), key=lambda kv: -np.mean(kv[1]))))
    s.img("figures/single_experts.png", "Single-expert success, sorted, coloured by group; dashed: fusion")
    s.table(header, rows)
    return _Part(s, ["## Single experts", "", md])


def _robustness(ctx: _Context) -> _Part | None:
    """Success as a share of the representations is dropped or noised, per agent and corruption."""
    cfg, out, figs = ctx.cfg, ctx.out, ctx.figs
    rc = cfg.robustness
    if rc is None:
        return None
    curves: dict[str, dict[str, list[list[float]]]] = {}
    rows, data = [], {}
    for key in rc.agents:
        label = cfg.agents[key].label
        for mode in rc.modes:
            pts = []
            for share in rc.shares:
                s = json.loads((out / "robustness" / key / f"{mode}-{share:g}" / "summary.json").read_text())
                pts.append([float(share), s["success"], *s["success_ci"]])
                rows.append([label, mode, f"{share:g}", f"{s['success']:.3f}", ci_text(s["success_ci"]),
                             f"{s['spl']:.3f}"])
            curves.setdefault(label, {})[mode] = pts
        data[key] = curves[label]
    header = ["Method", "Corruption", "Share", "Success", "Success 95% CI", "SPL"]
    md = write_table(out, "robustness", header, rows, data)
    ctx.figures.draw(figs / "robustness.png", curves, lambda: plots.robustness_curves(curves, figs / "robustness.png"))
    sec = Section("Robustness: dropped and noised representations")
    sec.p(f"At test time a share of the K representations is dropped (expert masked out, gate renormalised) or "
          f"noised (Gaussian noise, std {rc.noise_std:g} feature units), chosen at random ({rc.repeats} draw(s) "
          f"per point), for the seed-{cfg.seeds[0]} models. "
          + (f"Each point uses {rc.episodes_per_scene} episodes per test scene (Table 1: "
             f"{cfg.episodes_per_scene}), so the share-0 rows (the uncorrupted agents) differ from Table 1 by "
             "that sampling: compare a row with the other shares of its own curve. "
             if rc.episodes_per_scene and rc.episodes_per_scene != cfg.episodes_per_scene else "")
          + "A curve that rises as representations are dropped is either within its interval (read the CI "
            "column) or says the agent leaned on representations that mislead it on these scenes.")
    sec.img("figures/robustness.png", "Success vs share of corrupted representations").table(header, rows)
    return _Part(sec, ["## Robustness", "", md])


def _situational(ctx: _Context) -> _Part | None:
    """The gate's openness correlations and the figures the situational analysis drew."""
    cfg, out = ctx.cfg, ctx.out
    if cfg.situational is None:
        return None
    sj = json.loads((out / "situational" / "situational.json").read_text())
    s = Section("Situational fusion weights")
    corr = sj.get("openness_correlation", {})
    header = ["Group", "Pearson r (openness vs group weight)", "95% CI", "p"]
    rows = [[plots.GROUP_LABELS.get(g, g), f"{v[0]:.3f}", f"[{v[1]:.3f}, {v[2]:.3f}]", f"{v[3]:.2g}"]
            for g, v in corr.items()]
    md = write_table(out, "situational", header, rows, corr)
    s.p(f"Agent '{cfg.agents[cfg.situational.agent].label}'. The paper's finding: narrow places weight 3D "
        f"experts (avoid collisions), open rooms weight semantic ones (find the object); here openness is the "
        f"distance from a node to the nearest obstacle, over {sj.get('nodes_in_correlation', 0)} nodes. "
        "Nodes are spatially correlated, so the Fisher-z intervals are optimistic.")
    s.table(header, rows)
    f = sj.get("figures", {})
    for k, cap in (("gate_bars", "Mean gate weight per representation, per scene"),
                   ("gate_heatmap", "Scene × representation mean gate weight"),
                   ("openness", "Openness vs group weight")):
        if k in f:
            s.img(f"situational/{f[k]}", cap)
    for m in f.get("maps", []):
        s.img(f"situational/{m}", "Gate weight of a group at every node")
    if "animation" in f:
        s.img(f"situational/{f['animation']}", "An episode: the 8 views, the map with the trajectory, the gates")
    return _Part(s, ["## Situational fusion weights", "", md])


def _validation(ctx: _Context) -> _Part | None:
    """Validation success during training, per agent and seed (None when no run logged two points)."""
    out, figs = ctx.out, ctx.figs
    vc = validation_curves(out, ctx.cfg)
    if not vc:
        return None
    header = ["Agent", "Seed", "Val points", "Best val (iteration)", "Last val", "Last third − middle third"]
    rows = [[label, seed, len(pts), f"{max(v for _, v in pts):.3f} ({argmax_iteration(pts)})", f"{pts[-1][1]:.3f}",
             plateau(pts)] for label, per in vc.items() for seed, pts in sorted(per.items())]
    write_table(out, "validation", header, rows, {k: {str(s): p for s, p in v.items()} for k, v in vc.items()})
    ctx.figures.draw(figs / "validation.png", vc, lambda: plots.validation_curves(vc, figs / "validation.png"))
    s = Section("Validation curves")
    s.p("Success on the val split during training (the only split any choice is made on: "
        "best.safetensors is each run's highest point). Training has plateaued when the last third of "
        "the points is no higher than the middle third (last column, within the validation noise of about "
        "±0.05 per point).")
    s.img("figures/validation.png", "Validation success vs iteration").table(header, rows)
    return _Part(s)


def _runs(out: Path) -> _Part:
    """Links to every run's config and training log and every evaluation's summary and episodes."""
    s = Section("Runs")
    s.p("Every trained run keeps its resolved config, training curves (CSV + TensorBoard) and checkpoints; "
        "every evaluation its per-episode CSV and per-scene / per-target summary.")
    items = []
    for p in sorted((out / "runs").glob("*")) if (out / "runs").is_dir() else []:
        for f, what in (("config.yaml", "config"), ("metrics.csv", "training log")):
            items.append((f"{p.name}: {what}", f"runs/{p.name}/{f}"))
    for p in sorted((out / "eval").glob("*")) if (out / "eval").is_dir() else []:
        items.append((f"{p.name}: evaluation summary", f"eval/{p.name}/summary.md"))
        items.append((f"{p.name}: episodes", f"eval/{p.name}/episodes.csv"))
    s.links([(t, r) for t, r in items if (out / r).is_file()])
    return _Part(s)


def _recipe(out: Path) -> _Part:
    """The recipe as run (``recipe.yaml``)."""
    s = Section("Recipe")
    s.pre((out / "recipe.yaml").read_text())
    return _Part(s)


def _versions(out: Path, backend_versions: dict) -> _Part:
    """Package versions, hardware, the backend's components and each run's training time."""
    env = environment_info()
    env.update({f"backend.{k}": str(v) for k, v in backend_versions.items()})
    timings = []
    for p in sorted((out / "state").glob("train__*.json")):
        d = json.loads(p.read_text())
        if "seconds" in d:
            timings.append([p.stem.replace("train__", "").replace("__", " "), f"{d['seconds']:.1f}"])
    s = Section("Versions and hardware")
    s.table(["Item", "Value"], [[k, v] for k, v in env.items()])
    if timings:
        s.p("Training time of each run (seconds, from when it was trained):").table(["Run", "Seconds"], timings)
    return _Part(s)


def test_scenes_text(cfg: ReproduceConfig, block: Any = None) -> str:
    """Which scenes the evaluation used: the recipe's split, or the fresh seed block ``block``."""
    if block is not None:
        return (f"suite '{cfg.suite}' generator on the fresh seed block {block} ({block.describe()}, "
                f"suite {cfg.eval_suite!r}; no suite's split names these seeds)")
    return f"suite '{cfg.suite}', split '{cfg.eval_split}'"


def _caveat(cfg: ReproduceConfig, backend: str, n_scenes: int) -> str:
    if backend == "synthetic":
        return ("Synthetic backend: no scenes, no learning — agents are fixed noisy oracles. These numbers only "
                "exercise the pipeline.")
    return (f"Small-sample recipe: {n_scenes} test scenes, ≤ {cfg.episodes_per_scene} episodes per scene, short "
            f"training. Orderings between methods rest on a small sample; overlapping CIs mean no ordering is "
            f"established. configs/standard.yaml is the CPU recipe sized to decide (24/6/12 scenes, 3 seeds); "
            f"configs/paper.yaml is paper scale.")
