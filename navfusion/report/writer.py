"""Tables (CSV / JSON / Markdown), figures and ``index.html`` of a reproduction, from its saved results.

Everything here is a pure function of the files under the output folder, so re-running on a
finished folder writes byte-identical tables.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.eval.batched import EpisodeResults
from navfusion.eval.evaluate import load_results
from navfusion.eval.stats import bootstrap_ci, mean_std
from navfusion.io import atomic_write_json, atomic_write_text, hash_jsonable
from navfusion.markdown import markdown_table
from navfusion.viz import plots
from navfusion.viz.html import Section, environment_info, write_html


def _pooled(results: list[tuple[EpisodeResults, np.ndarray]], n_boot: int) -> dict[str, Any]:
    """Mean ± std over seeds and the bootstrap CI over all episodes pooled, for success / SPL / stop success."""
    out: dict[str, Any] = {"seeds": len(results), "episodes": int(sum(len(r) for r, _ in results))}
    for key, col in (("success", "success_reach"), ("spl", "spl_reach"), ("success_stop", "success_stop")):
        per_seed = [float(np.mean(getattr(r, col))) for r, _ in results]
        m, s = mean_std(per_seed)
        pooled = np.concatenate([getattr(r, col) for r, _ in results])
        out[key] = m
        out[f"{key}_std"] = s
        out[f"{key}_per_seed"] = per_seed
        out[f"{key}_ci"] = list(bootstrap_ci(pooled, n_boot=n_boot, seed=0))
    out["steps"] = float(np.mean(np.concatenate([r.steps_reach for r, _ in results])))
    out["collisions"] = float(np.mean(np.concatenate([r.collisions_reach for r, _ in results])))
    return out


def _pm(m: float, s: float, seeds: int) -> str:
    return f"{m:.3f} ± {s:.3f}" if seeds > 1 else f"{m:.3f}"


def _ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _write_table(out: Path, name: str, header: list[str], rows: list[list[Any]], data: Any) -> str:
    md = markdown_table(header, rows, right_from=1) + "\n"
    atomic_write_text(out / "tables" / f"{name}.md", md)
    atomic_write_text(out / "tables" / f"{name}.csv", _csv(header, rows))
    atomic_write_json(out / "tables" / f"{name}.json", data)
    return md


class _FigureCache:
    """Skips re-drawing a figure whose inputs are unchanged (fingerprints in ``figures/manifest.json``)."""

    def __init__(self, root: Path):
        self.path = root / "manifest.json"
        try:
            self.fps = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            self.fps = {}

    def draw(self, path: Path, inputs: Any, fn) -> None:
        fp = hash_jsonable(inputs)
        if path.is_file() and self.fps.get(path.name) == fp:
            return
        fn()
        self.fps[path.name] = fp
        atomic_write_json(self.path, self.fps)


def write_report(rep) -> Path:
    """Write all tables, figures and ``index.html`` for a finished :class:`Reproduction`; returns the page."""
    cfg, out = rep.cfg, rep.out
    nb = cfg.bootstrap
    sections: list[Section] = []
    figs = out / "figures"
    md_parts: list[str] = []
    fc = _FigureCache(figs)

    # ---------------------------------------------------------------- Table 1
    t1 = {}
    for key, entry in cfg.agents.items():
        t1[key] = {"label": entry.label, "agent": entry.agent,
                   **_pooled([load_results(out / "eval" / f"{key}-s{s}") for s in cfg.seeds], nb)}
    header = ["Method", "Success", "Success 95% CI", "SPL", "SPL 95% CI", "Success (stop)", "Steps",
              "Collisions", "Episodes", "Seeds"]
    rows = [[v["label"], _pm(v["success"], v["success_std"], v["seeds"]), _ci(v["success_ci"]),
             _pm(v["spl"], v["spl_std"], v["seeds"]), _ci(v["spl_ci"]),
             _pm(v["success_stop"], v["success_stop_std"], v["seeds"]), f"{v['steps']:.1f}",
             f"{v['collisions']:.2f}", v["episodes"], v["seeds"]] for v in t1.values()]
    md1 = _write_table(out, "table1", header, rows, [{"key": k, **v} for k, v in t1.items()])
    rep.table_markdown = md1
    args1 = ([v["label"] for v in t1.values()], [v["success"] for v in t1.values()],
             [v["success_ci"][0] for v in t1.values()], [v["success_ci"][1] for v in t1.values()])
    fc.draw(figs / "table1.png", args1,
            lambda: plots.table_bars(*args1, figs / "table1.png", title="Success on unseen scenes"))
    scenes = rep.backend.test_scenes(cfg)
    s1 = Section("Table 1: navigation on unseen scenes")
    if cfg.small_sample or rep.backend.name == "synthetic":
        s1.note(_caveat(cfg, rep.backend.name, len(scenes)))
        atomic_write_text(out / "caveat.txt", _caveat(cfg, rep.backend.name, len(scenes)) + "\n")
    s1.p(f"{test_scenes_text(rep)}: {len(scenes)} unseen scenes, up to "
         f"{cfg.episodes_per_scene} episodes each; success = within {cfg.success_radius} steps of the goal within "
         f"{cfg.horizon} actions (the paper's protocol); SPL with path lengths in steps. "
         + (f"Mean ± std over {len(cfg.seeds)} training seeds; 95% CIs: bootstrap over all episodes pooled "
            "across seeds." if len(cfg.seeds) > 1 else
            "One training seed (no spread over seeds is measured); 95% CIs: bootstrap over episodes."))
    s1.table(header, rows).img("figures/table1.png", "Success with 95% CI")
    sections.append(s1)
    md_parts += ["## Table 1: navigation on unseen scenes", "", md1]

    # ---------------------------------------------------------------- findings
    from navfusion.eval.findings import HEADER, RULE, compute_findings, findings_json, findings_markdown

    found = compute_findings(out, cfg)
    atomic_write_json(out / "findings.json", findings_json(
        found, recipe=cfg.name, test_scenes=test_scenes_text(rep), scenes=len(scenes), seeds=list(cfg.seeds),
        bootstrap=nb))
    mdf = findings_markdown(found)
    rep.findings_markdown = mdf
    sf = Section("Verdicts on the paper's findings")
    sf.p(RULE + f" {nb} bootstrap draws; {len(scenes)} test scenes ({test_scenes_text(rep)}).")
    if len(scenes) < 6:
        sf.note(f"Only {len(scenes)} test scenes: the scene-level bootstrap is coarse, so most findings cannot be "
                "decided here (inconclusive is the honest answer); configs/standard.yaml is sized to decide.")
    sf.table(HEADER, [f.cells() for f in found])
    notes = [f"({f.id}) {f.note}" for f in found if f.note]
    if notes:
        sf.p("Notes: " + "; ".join(notes) + ". Details per finding: findings.json.")
    sections.append(sf)
    md_parts += ["## Verdicts on the paper's findings", "", RULE, "", mdf]
    if notes:
        md_parts += ["Notes: " + "; ".join(notes) + ".", ""]

    # ---------------------------------------------------------------- single experts
    if cfg.single_experts is not None:
        d0 = out / "eval" / f"single_experts-s{cfg.seeds[0]}"
        names = json.loads((d0 / "experts.json").read_text())
        se = {}
        for n in names:
            se[n] = {"group": plots.group_of(n),
                     **_pooled([load_results(out / "eval" / f"single_experts-s{s}" / n) for s in cfg.seeds], nb)}
        order = sorted(names, key=lambda n: -se[n]["success"])
        h2 = ["Representation", "Group", "Success", "Success 95% CI", "SPL"]
        r2 = [[n, plots.GROUP_LABELS.get(se[n]["group"], se[n]["group"]),
               _pm(se[n]["success"], se[n]["success_std"], se[n]["seeds"]), _ci(se[n]["success_ci"]),
               f"{se[n]['spl']:.3f}"] for n in order]
        md2 = _write_table(out, "single_experts", h2, r2, [{"representation": n, **se[n]} for n in order])
        ref = {v["label"]: v["success"] for k, v in t1.items() if k in ("action_fusion", "action_fusion_affinity")}
        args2 = (names, [se[n]["success"] for n in names], [se[n]["success_ci"][0] for n in names],
                 [se[n]["success_ci"][1] for n in names], [se[n]["group"] for n in names])
        fc.draw(figs / "single_experts.png", [args2, ref],
                lambda: plots.single_expert_bars(*args2, figs / "single_experts.png", reference=ref))
        grp = {}
        for n in names:
            grp.setdefault(se[n]["group"], []).append(se[n]["success"])
        s2 = Section("Single experts")
        s2.p("Each representation alone drives one expert policy (trained together as one ExpertBank with separate "
             "losses). Group means: " + "; ".join(f"{plots.GROUP_LABELS.get(g, g)} {np.mean(v):.3f}"
                                                 for g, v in sorted(grp.items(), key=lambda kv: -np.mean(kv[1]))))
        s2.img("figures/single_experts.png", "Single-expert success, sorted, coloured by group; dashed: fusion")
        s2.table(h2, r2)
        sections.append(s2)
        md_parts += ["## Single experts", "", md2]

    # ---------------------------------------------------------------- robustness
    if cfg.robustness is not None:
        rc = cfg.robustness
        curves: dict[str, dict[str, list[list[float]]]] = {}
        r3, data3 = [], {}
        for key in rc.agents:
            label = cfg.agents[key].label
            for mode in rc.modes:
                pts = []
                for share in rc.shares:
                    s = json.loads((out / "robustness" / key / f"{mode}-{share:g}" / "summary.json").read_text())
                    pts.append([float(share), s["success"], *s["success_ci"]])
                    r3.append([label, mode, f"{share:g}", f"{s['success']:.3f}", _ci(s["success_ci"]),
                               f"{s['spl']:.3f}"])
                curves.setdefault(label, {})[mode] = pts
            data3[key] = curves[label]
        h3 = ["Method", "Corruption", "Share", "Success", "Success 95% CI", "SPL"]
        md3 = _write_table(out, "robustness", h3, r3, data3)
        fc.draw(figs / "robustness.png", curves, lambda: plots.robustness_curves(curves, figs / "robustness.png"))
        s3 = Section("Robustness: dropped and noised representations")
        s3.p(f"At test time a share of the K representations is dropped (expert masked out, gate renormalised) or "
             f"noised (Gaussian noise, std {rc.noise_std:g} feature units), chosen at random ({rc.repeats} draw(s) "
             f"per point), for the seed-{cfg.seeds[0]} models. "
             + (f"Each point uses {rc.episodes_per_scene} episodes per test scene (Table 1: "
                f"{cfg.episodes_per_scene}), so the share-0 rows (the uncorrupted agents) differ from Table 1 by "
                "that sampling: compare a row with the other shares of its own curve. "
                if rc.episodes_per_scene and rc.episodes_per_scene != cfg.episodes_per_scene else "")
             + "A curve that rises as representations are dropped is either within its interval (read the CI "
               "column) or says the agent leaned on representations that mislead it on these scenes.")
        s3.img("figures/robustness.png", "Success vs share of corrupted representations").table(h3, r3)
        sections.append(s3)
        md_parts += ["## Robustness", "", md3]

    # ---------------------------------------------------------------- situational
    if cfg.situational is not None:
        sj = json.loads((out / "situational" / "situational.json").read_text())
        s4 = Section("Situational fusion weights")
        corr = sj.get("openness_correlation", {})
        h4 = ["Group", "Pearson r (openness vs group weight)", "95% CI", "p"]
        r4 = [[plots.GROUP_LABELS.get(g, g), f"{v[0]:.3f}", f"[{v[1]:.3f}, {v[2]:.3f}]", f"{v[3]:.2g}"]
              for g, v in corr.items()]
        md4 = _write_table(out, "situational", h4, r4, corr)
        s4.p(f"Agent '{cfg.agents[cfg.situational.agent].label}'. The paper's finding: narrow places weight 3D "
             f"experts (avoid collisions), open rooms weight semantic ones (find the object); here openness is the "
             f"distance from a node to the nearest obstacle, over {sj.get('nodes_in_correlation', 0)} nodes. "
             "Nodes are spatially correlated, so the Fisher-z intervals are optimistic.")
        s4.table(h4, r4)
        f = sj.get("figures", {})
        for k, cap in (("gate_bars", "Mean gate weight per representation, per scene"),
                       ("gate_heatmap", "Scene × representation mean gate weight"),
                       ("openness", "Openness vs group weight")):
            if k in f:
                s4.img(f"situational/{f[k]}", cap)
        for m in f.get("maps", []):
            s4.img(f"situational/{m}", "Gate weight of a group at every node")
        if "animation" in f:
            s4.img(f"situational/{f['animation']}", "An episode: the 8 views, the map with the trajectory, the gates")
        sections.append(s4)
        md_parts += ["## Situational fusion weights", "", md4]

    # ---------------------------------------------------------------- validation curves
    vc = _validation_curves(out, cfg)
    if vc:
        h5 = ["Agent", "Seed", "Val points", "Best val (iteration)", "Last val", "Last third − middle third"]
        r5 = [[label, seed, len(pts), f"{max(v for _, v in pts):.3f} ({_argmax_it(pts)})", f"{pts[-1][1]:.3f}",
               _plateau(pts)] for label, per in vc.items() for seed, pts in sorted(per.items())]
        _write_table(out, "validation", h5, r5, {k: {str(s): p for s, p in v.items()} for k, v in vc.items()})
        fc.draw(figs / "validation.png", vc, lambda: plots.validation_curves(vc, figs / "validation.png"))
        sv = Section("Validation curves")
        sv.p("Success on the val split during training (the only split any choice is made on: "
             "best.safetensors is each run's highest point). Training has plateaued when the last third of "
             "the points is no higher than the middle third (last column, within the validation noise of about "
             "±0.05 per point).")
        sv.img("figures/validation.png", "Validation success vs iteration").table(h5, r5)
        sections.append(sv)

    # ---------------------------------------------------------------- runs
    sr = Section("Runs")
    sr.p("Every trained run keeps its resolved config, training curves (CSV + TensorBoard) and checkpoints; "
         "every evaluation its per-episode CSV and per-scene / per-target summary.")
    items = []
    for p in sorted((out / "runs").glob("*")) if (out / "runs").is_dir() else []:
        for f, what in (("config.yaml", "config"), ("metrics.csv", "training log")):
            items.append((f"{p.name}: {what}", f"runs/{p.name}/{f}"))
    for p in sorted((out / "eval").glob("*")) if (out / "eval").is_dir() else []:
        items.append((f"{p.name}: evaluation summary", f"eval/{p.name}/summary.md"))
        items.append((f"{p.name}: episodes", f"eval/{p.name}/episodes.csv"))
    sr.links([(t, r) for t, r in items if (out / r).is_file()])
    sections.append(sr)

    # ---------------------------------------------------------------- config & environment
    s5 = Section("Recipe")
    s5.pre((out / "recipe.yaml").read_text())
    sections.append(s5)
    env = environment_info()
    env.update({f"backend.{k}": str(v) for k, v in rep.backend.versions().items()})
    timings = []
    for p in sorted((out / "state").glob("train__*.json")):
        d = json.loads(p.read_text())
        if "seconds" in d:
            timings.append([p.stem.replace("train__", "").replace("__", " "), f"{d['seconds']:.1f}"])
    s6 = Section("Versions and hardware")
    s6.table(["Item", "Value"], [[k, v] for k, v in env.items()])
    if timings:
        s6.p("Training time of each run (seconds, from when it was trained):").table(["Run", "Seconds"], timings)
    sections.append(s6)
    atomic_write_text(out / "results.md", "\n".join(md_parts))
    return write_html(out / "index.html", f"navfusion reproduction: {cfg.name}", sections)


def _validation_curves(out: Path, cfg) -> dict[str, dict[int, list[list[float]]]]:
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


def _argmax_it(pts: list[list[float]]) -> int:
    return int(max(pts, key=lambda p: p[1])[0])


def _plateau(pts: list[list[float]]) -> str:
    """Mean of the last third of the validation points minus that of the middle third."""
    v = [p[1] for p in pts]
    k = len(v) // 3
    if k < 1:
        return "—"
    return f"{np.mean(v[-k:]) - np.mean(v[-2 * k:-k]):+.3f}"


def test_scenes_text(rep) -> str:
    """Which scenes the evaluation used: the recipe's split, or the fresh seed block."""
    cfg = rep.cfg
    block = getattr(rep, "test_block", None)
    if block is not None:
        return (f"suite '{cfg.suite}' generator on the fresh seed block {block} ({block.describe()}, "
                f"suite {cfg.eval_suite!r}; no suite's split names these seeds)")
    return f"suite '{cfg.suite}', split '{cfg.eval_split}'"


def _caveat(cfg, backend: str, n_scenes: int) -> str:
    if backend == "synthetic":
        return ("Synthetic backend: no scenes, no learning — agents are fixed noisy oracles. These numbers only "
                "exercise the pipeline.")
    return (f"Small-sample recipe: {n_scenes} test scenes, ≤ {cfg.episodes_per_scene} episodes per scene, short "
            f"training. Orderings between methods rest on a small sample; overlapping CIs mean no ordering is "
            f"established. configs/standard.yaml is the CPU recipe sized to decide (24/6/12 scenes, 3 seeds); "
            f"configs/paper.yaml is paper scale.")


def export_docs(out: str | Path, docs: str | Path, command: str) -> Path:
    """Copy a finished reproduction's tables and main figures into ``docs`` (``results.md`` + ``figures/``).

    ``command`` is the command line that produced ``out`` (quoted in the page).
    """
    import shutil

    out, docs = Path(out), Path(docs)
    figs = docs / "figures"
    figs.mkdir(parents=True, exist_ok=True)
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
    lines += [body, "## Commands", "", "```bash",
              "navfusion quickstart                                     # CPU recipe -> runs/quickstart (this page)",
              "navfusion reproduce configs/paper.yaml --out runs/paper  # paper scale, for a GPU (caches ~39 GB)",
              "navfusion evaluate runs/quickstart/runs/action_fusion-s0 --split test --json",
              "navfusion visualize runs/quickstart/runs/action_fusion-s0 --out runs/fusion-weights",
              "```", "", "## Figures", ""]
    for rel, cap in picks:
        src = out / rel
        if not src.is_file():
            continue
        dst = figs / src.name
        shutil.copyfile(src, dst)
        lines += [f"![{cap}](figures/{dst.name})", "", f"*{cap}*", ""]
    page = docs / "results.md"
    atomic_write_text(page, "\n".join(lines))
    return page
