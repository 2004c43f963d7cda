"""Situational analysis of a gated agent: where does the gate put its weight, and why.

Produces (under ``out_dir``): per-scene mean gate weights (bars + scene × representation heatmap),
top-down maps coloured by a group's gate weight at every node, openness (distance to the nearest
obstacle) against the 3D-group and semantic-group weight with Pearson r and a Fisher-z 95% CI
(over every node of every scene), the per-node data behind it (``nodes.npz``), and an episode
animation (GIF).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.common import HORIZON, SUCCESS_RADIUS, TARGETS, scene_slug
from navfusion.errors import NavFusionError
from navfusion.eval.backend import LoadedAgent, SceneData
from navfusion.eval.evaluate import eval_seed, evaluate_agent
from navfusion.eval.stats import correlation_ci
from navfusion.io import atomic_save_npz, atomic_write_json
from navfusion.viz import plots
from navfusion.viz.animation import episode_frames, write_gif

#: Groups whose weight is set against openness (the paper's finding: 3D in narrow places, semantic in open ones).
OPENNESS_GROUPS: tuple[str, ...] = ("3d", "semantic")


def node_gate_table(agent: LoadedAgent, sd: SceneData) -> np.ndarray | None:
    """(N, K) gate weight at every node, averaged over the targets present in the scene."""
    n = sd.arrays.num_nodes
    acc, cnt = None, 0
    for t in range(len(TARGETS)):
        if not (sd.arrays.distance[t] >= 0).any():
            continue
        g = agent.node_gates(sd, np.arange(n), t)
        if g is None:
            return None
        acc = g.astype(np.float64) if acc is None else acc + g
        cnt += 1
    return None if acc is None else acc / cnt


def situational_analysis(agent: LoadedAgent, scenes: list[SceneData], out_dir: str | Path, *, seed: int = 0,
                         episodes_per_scene: int = 64, map_scenes: int = 2, animate: bool = True,
                         horizon: int = HORIZON, radius: int = SUCCESS_RADIUS, node_scenes: int | None = None,
                         log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the analysis and write figures, ``situational.json`` and ``nodes.npz`` into ``out_dir``.

    ``nodes.npz`` holds, per node of the first ``node_scenes`` scenes (default all): its scene,
    openness, gate weights (N, K) and the 3D / semantic group sums. Returns the summary; its figure
    paths are relative to ``out_dir``.
    """
    names = agent.expert_names
    if not names:
        raise NavFusionError("the situational analysis needs a gated agent (feature- or action-level fusion)")
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    groups = [plots.group_of(n) for n in names]
    log(f"situational analysis: recording gate weights on {len(scenes)} scenes x {episodes_per_scene} episodes ...")
    _, _, parts = evaluate_agent(agent, scenes, episodes_per_scene=episodes_per_scene, seed=eval_seed(seed, "sit"),
                                 horizon=horizon, radius=radius, record=True)
    mean_gate: dict[str, list[float]] = {}
    for sd, r in zip(scenes, parts):
        if r.gates is None:
            raise NavFusionError("the agent returned no gate weights during evaluation")
        mean_gate[sd.scene_id] = np.nanmean(r.gates.reshape(-1, r.gates.shape[-1]), axis=0).tolist()
    figs: dict[str, Any] = {}
    figs["gate_bars"] = str(plots.gate_bars(mean_gate, names, fig_dir / "gate_bars.png").relative_to(out_dir))
    mat = np.array([mean_gate[s] for s in mean_gate])
    figs["gate_heatmap"] = str(plots.gate_heatmap(mat, list(mean_gate), names,
                                                  fig_dir / "gate_heatmap.png").relative_to(out_dir))
    # Per-node gate tables: on every scene (or the first ``node_scenes``) for the openness
    # correlation and ``nodes.npz`` (finding 5 of the report), maps on the first ``map_scenes``.
    op_all, gw_all = [], {g: [] for g in OPENNESS_GROUPS}
    node_scene, node_gates = [], []
    figs["maps"] = []
    log("situational analysis: per-node gate weights, openness and maps ...")
    for j, sd in enumerate(scenes[:node_scenes] if node_scenes else scenes):
        tab = node_gate_table(agent, sd)
        if tab is None:
            continue
        for g in OPENNESS_GROUPS:
            sel = [i for i, gg in enumerate(groups) if gg == g]
            if not sel:
                continue
            w = tab[:, sel].sum(1)
            if sd.openness is not None:
                gw_all[g].append(w)
            if j < map_scenes and sd.arrays.positions is not None:
                p = plots.topdown_values(sd.arrays.positions, w, fig_dir / f"map_{scene_slug(sd.scene_id)}_{g}.png",
                                         title=f"{sd.scene_id}: {plots.GROUP_LABELS.get(g, g)} group gate weight",
                                         scene=sd.scene)
                figs["maps"].append(str(p.relative_to(out_dir)))
        if sd.openness is not None:
            op_all.append(np.asarray(sd.openness, float))
            node_scene.append(np.full(len(tab), sd.scene_id))
            node_gates.append(tab)
    corr: dict[str, list[float]] = {}
    if op_all:
        x = np.concatenate(op_all)
        series = {g: np.concatenate(v) for g, v in gw_all.items() if v}
        corr = {g: list(correlation_ci(x, y)) for g, y in series.items()}
        if series:
            figs["openness"] = str(plots.openness_scatter(x, series, corr, fig_dir / "openness.png")
                                   .relative_to(out_dir))
        atomic_save_npz(out_dir / "nodes.npz", scene=np.concatenate(node_scene).astype(str), openness=x,
                        gates=np.concatenate(node_gates).astype(np.float32), experts=np.asarray(names, str),
                        **{f"w_{g}": y for g, y in series.items()})
    if animate and scenes and scenes[0].views is not None:
        log("situational analysis: episode animation ...")
        sd, r = scenes[0], parts[0]
        ok = np.flatnonzero(r.success_reach > 0)
        # A successful episode of median length shows both navigation and the gate changing.
        i = int(ok[np.argsort(r.path_reach[ok], kind="stable")[ok.size // 2]]) if ok.size else 0
        traj = r.nodes[i][r.nodes[i] >= 0][: int(r.steps_reach[i]) + 1]
        gates = r.gates[i][: len(traj)]
        if len(gates) < len(traj):
            gates = np.concatenate([gates, np.full((len(traj) - len(gates), gates.shape[1]), np.nan)])
        tgt = int(r.target[i])
        frames = episode_frames(sd.views(traj), sd.arrays.positions, traj, gates, names,
                                goal_nodes=(sd.goal_nodes or {}).get(tgt),
                                title=f"{sd.scene_id}: find a {TARGETS[tgt]}", scene=sd.scene)
        figs["animation"] = str(write_gif(frames, fig_dir / "episode.gif").relative_to(out_dir))
    summary = {"experts": names, "groups": groups, "mean_gate": mean_gate, "openness_correlation": corr,
               "nodes_in_correlation": int(sum(len(o) for o in op_all)), "figures": figs}
    atomic_write_json(out_dir / "situational.json", summary)
    log(f"situational analysis: {len(scenes)} scenes, correlations "
        + ", ".join(f"{g}: r={v[0]:.2f}" for g, v in corr.items()))
    return summary
