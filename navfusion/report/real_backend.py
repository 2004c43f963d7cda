"""The reproduction backend wired to the real stack: suites → worlds (graph, views) → FeatureStore →
agents trained by imitation (``navfusion.train``) → batched evaluation on the test split.

Thin adapters only: data loading is ``navfusion.train.data.load_split`` (the same lookups training
uses), models come from ``navfusion.agents``, run folders and checkpoints from
``navfusion.train.run_folder``; the evaluation side of a trained agent is ``navfusion.eval.real.RealAgent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from navfusion.build.jobs import SceneJob, run_job
from navfusion.common import TARGETS, cache_root
from navfusion.errors import NavFusionError
from navfusion.eval.backend import SceneData
from navfusion.eval.real import RealAgent
from navfusion.nav.registration import env_id
from navfusion.train.run_folder import load_trained

#: Evaluation episodes are NAV's fixed sets with this seed (the same files every run reads).
EPISODE_SEED = 0


def openness_of(world) -> np.ndarray:
    """(N,) distance in metres from each node to the nearest occupied cell of the scene (at agent height)."""
    import cv2

    occ = world.graph.occupancy
    dist = cv2.distanceTransform((~occ.occupied).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    row, col = occ.to_cell(world.graph.positions[:, :2])
    h, w = dist.shape
    row, col = np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)
    return dist[row, col].astype(np.float64) * occ.resolution


def _uses_features(agent: str) -> bool:
    """Whether a recipe name / kind reads encoder features (recipe files are read to find out)."""
    from navfusion.agents import load_agent_config

    try:
        return load_agent_config(agent).uses_features
    except NavFusionError:
        return True


def build_scene_job(job: SceneJob) -> tuple[str, int, int]:
    """Build one scene's world (scene, graph, views) and features in a (spawned) worker:
    ``(scene_id, nodes, feature files computed)``. Idempotent: everything cached is reused."""
    from navfusion.common import cache_root_set_to
    from navfusion.eval.heldout import ensure_suite

    with cache_root_set_to(job.cache_root):  # a fresh seed block's suite is known by its file only
        ensure_suite(job.scene_id.split("/", 1)[0])
    torch.set_num_threads(1)
    r = run_job(job)
    return r.scene_id, r.nodes, len(r.computed)


def _eval_suite(cfg) -> str:
    """The suite of a recipe's evaluation scenes (a fresh seed block's, else the recipe's)."""
    return cfg.eval_suite or cfg.suite


class RealBackend:
    """Backend for the shipped suites (see the module docstring)."""

    name = "navfusion"

    def __init__(self) -> None:
        self._data: dict[tuple, Any] = {}

    # -------------------------------------------------------------- recipes
    def agent_config(self, entry, cfg):
        """The entry's agent recipe with the reproduction's resolution and training overrides."""
        from navfusion.agents import load_agent_config

        over = {**cfg.agent_overrides, **entry.overrides}
        if not _uses_features(entry.agent):
            over.pop("encoders", None)
        ac = load_agent_config(entry.agent, **over)
        if ac.resolution is None and "resolution" not in over:
            ac.resolution = cfg.resolution
        ac.train = {**ac.train, **cfg.train, **entry.train}
        return ac

    def check(self, cfg) -> None:
        from navfusion.scenes import load_suite

        try:
            suite = load_suite(cfg.suite)
        except NavFusionError as e:
            raise NavFusionError(f"recipe suite: {e}") from None
        for split in (cfg.train_split, cfg.eval_split):
            s = suite if split == cfg.train_split or not cfg.eval_suite else load_suite(cfg.eval_suite)
            if not list(s.scene_ids(split)):
                raise NavFusionError(f"suite {s.name!r} has no scenes in split {split!r}")
        entries = dict(cfg.agents)
        if cfg.single_experts is not None:
            entries["single_experts"] = cfg.single_experts
        for key, e in entries.items():
            try:
                self.agent_config(e, cfg)
            except NavFusionError as err:
                raise NavFusionError(f"agents.{key}: {err}") from None

    # -------------------------------------------------------------- build
    def _encoders(self, cfg) -> list[str]:
        from navfusion.agents import resolve_encoders

        names: list[str] = []
        entries = list(cfg.agents.values()) + ([cfg.single_experts] if cfg.single_experts else [])
        for e in entries:
            for n in resolve_encoders(self.agent_config(e, cfg)):
                if n not in names:
                    names.append(n)
        return names

    def prepare(self, cfg, log) -> dict:
        import os

        from navfusion.build.runners import run_jobs
        from navfusion.train.data import split_scene_ids
        from navfusion.vision.features import FeatureStore
        from navfusion.vision.zoo import DEFAULT_ZOO

        info: dict[str, Any] = {}
        # One task per scene (scene, graph, views, then features) over a pool of processes, each
        # with one torch thread; test scenes first (the largest work first balances the pool).
        workers = int(cfg.build.get("workers", cfg.workers if cfg.workers > 1 else min(os.cpu_count() or 1, 4)))
        encoders = self._encoders(cfg)
        ids: list[str] = []
        for split in (cfg.eval_split, cfg.train_split, "val"):
            try:
                got = split_scene_ids(_eval_suite(cfg) if split == cfg.eval_split else cfg.suite, split)
            except NavFusionError:
                continue
            if split == cfg.eval_split and cfg.max_test_scenes:
                got = got[: cfg.max_test_scenes]
            if split == "val" and cfg.train.get("max_val_scenes"):  # only the scenes training validates on
                got = got[: cfg.train["max_val_scenes"]]
            info[split] = got
            ids += [s for s in got if s not in ids]
        info["encoders"] = encoders
        root = str(cache_root())
        store = str(FeatureStore(DEFAULT_ZOO).root)
        # Batches of 64 images: ~15% less CPU than 256 for the small zoo encoders (activations stay
        # in cache), identical features.
        jobs = [SceneJob(sid, root, views=True, resolution=cfg.resolution, zoo=DEFAULT_ZOO, encoders=tuple(encoders),
                         store_root=store, batch_size=64, device="cpu") for sid in ids]
        log(f"build: {len(ids)} scenes (scene, graph, {cfg.resolution}² views, features of {len(encoders)} "
            f"encoders) on {min(workers, len(ids))} processes")
        done: list[str] = []

        def report(key: str, res: tuple) -> None:
            done.append(key)
            _, nodes, computed = res
            log(f"  built {key}: {nodes} nodes, {computed} feature files computed [{len(done)}/{len(ids)}]")

        threads = torch.get_num_threads()
        backend = "process" if workers > 1 and len(ids) > 1 else "serial"
        run_jobs(jobs, backend=backend, workers=min(workers, len(ids)), on_result=report, job=build_scene_job)
        torch.set_num_threads(threads)  # an in-process build sets one thread
        return info

    def test_scenes(self, cfg) -> list[str]:
        from navfusion.train.data import split_scene_ids

        ids = split_scene_ids(_eval_suite(cfg), cfg.eval_split)
        return ids[: cfg.max_test_scenes] if cfg.max_test_scenes else ids

    def scene(self, scene_id: str, cfg) -> SceneData:
        from navfusion.nav import load_world
        from navfusion.train.data import world_arrays, world_episodes

        w = load_world(scene_id, resolution=cfg.resolution, progress=False)
        goals = {TARGETS.index(t): np.asarray(g.goal_nodes) for t, g in w.goals.items()}
        return SceneData(scene_id, world_arrays(w), world_episodes(w, cfg.episodes_per_scene, EPISODE_SEED),
                         openness=openness_of(w), views=lambda nodes: np.asarray(w.views.rgb[np.asarray(nodes)]),
                         goal_nodes=goals, scene=w.scene)

    # -------------------------------------------------------------- train / load
    def train(self, key: str, entry, seed: int, run_dir: Path, cfg, log) -> None:
        from navfusion.train.imitation import resolve_train_config, train_imitation

        ac = self.agent_config(entry, cfg)
        over: dict[str, Any] = {"env": env_id(cfg.suite), "seed": seed, "train_split": cfg.train_split}
        if not ac.uses_features and not ac.uses_rgb:
            # Nothing to learn (random walk): one no-op iteration writes the run folder and checkpoint.
            over.update(iterations=1, val_episodes=0, dagger_every=0)
        tc = resolve_train_config(ac, over)
        r = train_imitation(ac, tc, run_dir, progress=False)
        best = r.best_val_success
        val = "" if best is None else f", best val success {best:.3f}"
        log(f"  trained {key} seed {seed}: {r.iterations} iterations{val}")

    def load(self, run_dir: Path, entry, cfg) -> RealAgent:
        return load_run(run_dir, _eval_suite(cfg), cfg.eval_split, cfg.max_test_scenes, cache=self._data)

    def versions(self) -> dict:
        from navfusion.vision.zoo import DEFAULT_ZOO

        return {"backend": "navfusion (scenes, renderer, features, imitation-trained agents)", "zoo": DEFAULT_ZOO}


def load_run(run_dir: str | Path, suite: str | None = None, split: str = "test", max_scenes: int | None = None,
             cache: dict | None = None) -> RealAgent:
    """Load a ``navfusion train`` run folder for evaluation on ``suite``/``split`` (default: its training suite)."""
    return RealAgent(*load_trained(run_dir, suite, split, max_scenes, cache))
