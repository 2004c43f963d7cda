"""``navfusion visualize``: where a gated agent puts its fusion weights, scene by scene."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

from navfusion.errors import NavFusionError


def register(sub: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    p = sub.add_parser("visualize", help="fusion-weight figures of a trained gated agent (per scene, per node)",
                       description="Mean gate weight per representation per scene (bars + heatmap), top-down "
                       "maps coloured by a group's gate weight, openness vs 3D/semantic weight with r and its "
                       "95% CI, and an episode animation (GIF).")
    p.add_argument("run", help="run folder of `navfusion train` (a feature- or action-level fusion agent)")
    p.add_argument("--scene", action="append", default=None,
                   help="scene id to analyse (repeatable; default: every scene of --split)")
    p.add_argument("--split", default="test", help="split whose scenes are used when --scene is not given")
    p.add_argument("--out", required=True, help="output folder for the figures")
    p.add_argument("--episodes-per-scene", type=int, default=64, help="episodes whose gates are averaged")
    p.add_argument("--map-scenes", type=int, default=2, help="scenes that get per-node maps")
    p.add_argument("--no-animation", action="store_true", help="skip the episode GIF")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_visualize)


def _visualize(a: argparse.Namespace) -> int:
    import sys
    import time

    from navfusion.common import SceneId, suggest
    from navfusion.report.real_backend import RealBackend, load_run
    from navfusion.report.reproduce import check_out_dir
    from navfusion.train.data import split_scene_ids, suite_of_env
    from navfusion.viz.situational import situational_analysis

    t0 = time.perf_counter()

    def say(msg: str) -> None:  # progress on stderr: stdout lists the figures written
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    out = check_out_dir(a.out)
    say(f"loading {a.run} ...")
    agent = load_run(a.run)
    if not agent.expert_names:
        raise NavFusionError(f"{a.run}: agent kind {agent.cfg.kind!r} has no gate; visualize needs feature_fusion, "
                             "action_fusion or action_fusion_affinity")
    suite = suite_of_env(agent.data.scene_ids[0].split("/")[0])
    if a.scene:
        ids = [str(SceneId.parse(s)) for s in a.scene]
        splits = {SceneId.parse(s).split for s in ids}
        if len(splits) != 1:
            raise NavFusionError("--scene: give scenes of one split")
        split = splits.pop()
        suite = SceneId.parse(ids[0]).suite
    else:
        split = a.split
        ids = split_scene_ids(suite, split)
    if split != "test" or set(agent.data.scene_ids) != set(ids) or suite != agent.data.scene_ids[0].split("/")[0]:
        agent = load_run(a.run, suite, split)
    known = agent.data.scene_ids
    for s in ids:
        if s not in known:
            raise NavFusionError(f"--scene {s}: not a scene of {suite}/{split}.{suggest(s, known)}")
    cfg = SimpleNamespace(resolution=agent.cfg.rgb_resolution, episodes_per_scene=a.episodes_per_scene)
    backend = RealBackend()
    scenes = []
    for i, s in enumerate(ids):
        say(f"loading scene {s} [{i + 1}/{len(ids)}] ...")
        scenes.append(backend.scene(s, cfg))
    summary = situational_analysis(agent, scenes, out, seed=a.seed, episodes_per_scene=a.episodes_per_scene,
                                   map_scenes=a.map_scenes, animate=not a.no_animation, log=say)
    figs = summary["figures"]
    paths = [figs.get("gate_bars"), figs.get("gate_heatmap"), figs.get("openness"), *figs.get("maps", []),
             figs.get("animation")]
    for p in paths:
        if p:
            print(Path(out) / p)
    print(Path(out) / "situational.json")
    return 0
