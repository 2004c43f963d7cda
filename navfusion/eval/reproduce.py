"""``navfusion reproduce``: build, train every agent over seeds, evaluate on unseen scenes, report.

Every step leaves a done-marker (``state/<step>.json``) holding a fingerprint of the settings it
depends on, written only after the step's outputs. A re-run skips steps whose marker matches (so
a finished folder is reused as is and its tables come out identical), continues an interrupted
run where it stopped (training itself resumes from its own checkpoints), and redoes a step whose
settings changed. Tables and figures are always re-derived from the saved per-episode results.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.eval.backend import Backend, get_backend
from navfusion.eval.evaluate import eval_seed, evaluate_agent, load_results, save_results
from navfusion.eval.recipe import ReproduceConfig, load_recipe
from navfusion.io import atomic_write_json, atomic_write_text, hash_jsonable


class StepState:
    """Done-markers under ``<out>/state``."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, step: str) -> Path:
        return self.root / (step.replace("/", "__") + ".json")

    def done(self, step: str, fp: str) -> bool:
        p = self._path(step)
        if not p.is_file():
            return False
        try:
            return json.loads(p.read_text()).get("fingerprint") == fp
        except (OSError, json.JSONDecodeError):
            return False

    def mark(self, step: str, fp: str, **info: Any) -> None:
        atomic_write_json(self._path(step), {"fingerprint": fp, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                             **info})


def check_out_dir(out: str | Path) -> Path:
    """The output folder (created); a path that is a file is a one-line error."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NavFusionError(f"--out {out} is a file, not a folder; choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


class Reproduction:
    """One reproduction run (see the module docstring)."""

    def __init__(self, recipe: str | Path, out: str | Path, backend: Backend | None = None,
                 log: Callable[[str], None] = print):
        self.cfg, self.raw = load_recipe(recipe)
        self.recipe_path = str(recipe)
        self.out = check_out_dir(out)
        self.backend = backend or get_backend(self.cfg.suite)
        self.backend.check(self.cfg)
        self.state = StepState(self.out / "state")
        self.log = log
        self.t0 = time.perf_counter()
        self._scenes = None

    # ------------------------------------------------------------------ helpers
    def _msg(self, text: str) -> None:
        self.log(f"[{time.perf_counter() - self.t0:7.1f}s] {text}")

    def _fp(self, *parts: Any) -> str:
        return hash_jsonable([self.cfg.suite, self.cfg.resolution, *parts])

    def _train_fp(self, key: str, seed: int, entry) -> str:
        c = self.cfg
        return self._fp("train", entry.agent, entry.train, entry.overrides, c.agent_overrides, c.train, c.train_split,
                        seed)

    def _eval_fp(self, train_fp: str, *extra: Any) -> str:
        c = self.cfg
        return hash_jsonable([train_fp, c.eval_split, c.max_test_scenes, c.episodes_per_scene, c.horizon,
                              c.success_radius, c.bootstrap, *extra])

    def scenes(self):
        if self._scenes is None:
            self._scenes = [self.backend.scene(s, self.cfg) for s in self.backend.test_scenes(self.cfg)]
        return self._scenes

    def run_dir(self, key: str, seed: int) -> Path:
        return self.out / "runs" / f"{key}-s{seed}"

    # ------------------------------------------------------------------ steps
    def step_prepare(self) -> None:
        c = self.cfg
        fp = self._fp("prepare", c.build, c.eval_split, c.max_test_scenes, c.episodes_per_scene)
        if self.state.done("prepare", fp):
            self._msg("build: reused")
            return
        self._msg(f"build: suite {c.suite} (scenes, graphs, views, features) ...")
        info = self.backend.prepare(c, self._msg)
        self.state.mark("prepare", fp, info=info)

    def step_train(self, key: str, entry, seed: int) -> str:
        fp = self._train_fp(key, seed, entry)
        step = f"train/{key}/s{seed}"
        rd = self.run_dir(key, seed)
        if self.state.done(step, fp):
            self._msg(f"train {key} seed {seed}: reused")
            return fp
        stamp = rd / "reproduce_fingerprint.json"
        if stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") != fp:
            # Settings changed since this folder was trained: its checkpoints must not be resumed.
            shutil.rmtree(rd)
        rd.mkdir(parents=True, exist_ok=True)
        atomic_write_json(stamp, {"fingerprint": fp})
        t = time.perf_counter()
        self._msg(f"train {key} ({entry.agent}) seed {seed} ...")
        self.backend.train(key, entry, seed, rd, self.cfg, self._msg)
        self.state.mark(step, fp, seconds=round(time.perf_counter() - t, 1))
        return fp

    def step_eval(self, key: str, entry, seed: int, train_fp: str) -> None:
        fp = self._eval_fp(train_fp)
        step = f"eval/{key}/s{seed}"
        d = self.out / "eval" / f"{key}-s{seed}"
        if self.state.done(step, fp) and (d / "episodes.npz").is_file():
            self._msg(f"evaluate {key} seed {seed}: reused")
            return
        agent = self.backend.load(self.run_dir(key, seed), entry, self.cfg)
        res, scene, _ = evaluate_agent(agent, self.scenes(), episodes_per_scene=self.cfg.episodes_per_scene,
                                       seed=eval_seed(key, seed), horizon=self.cfg.horizon,
                                       radius=self.cfg.success_radius)
        s = save_results(d, res, scene, title=f"{entry.label} (seed {seed})", n_boot=self.cfg.bootstrap)
        self.state.mark(step, fp)
        self._msg(f"evaluate {key} seed {seed}: success {s['success']:.3f}, SPL {s['spl']:.3f} "
                  f"({s['episodes']} episodes)")

    def step_single(self, seed: int) -> None:
        e = self.cfg.single_experts
        fp_t = self.step_train("single_experts", e, seed)
        fp = self._eval_fp(fp_t, "single")
        step = f"eval/single_experts/s{seed}"
        d = self.out / "eval" / f"single_experts-s{seed}"
        if self.state.done(step, fp):
            self._msg(f"evaluate single experts seed {seed}: reused")
            return
        agent = self.backend.load(self.run_dir("single_experts", seed), e, self.cfg)
        names = agent.expert_names or []
        for k, name in enumerate(names):
            res, scene, _ = evaluate_agent(agent, self.scenes(), episodes_per_scene=self.cfg.episodes_per_scene,
                                           seed=eval_seed("single", name, seed), horizon=self.cfg.horizon,
                                           radius=self.cfg.success_radius, only_expert=k)
            save_results(d / name, res, scene, title=f"single expert {name} (seed {seed})",
                         n_boot=self.cfg.bootstrap)
        atomic_write_json(d / "experts.json", names)
        self.state.mark(step, fp)
        self._msg(f"evaluate single experts seed {seed}: {len(names)} experts")

    def step_robustness(self) -> None:
        rc = self.cfg.robustness
        seed = self.cfg.seeds[0]
        n = rc.episodes_per_scene or self.cfg.episodes_per_scene
        for key in rc.agents:
            entry = self.cfg.agents[key]
            tfp = self._train_fp(key, seed, entry)
            agent = None
            for mode in rc.modes:
                for share in rc.shares:
                    step = f"robustness/{key}/{mode}-{share:g}"
                    fp = self._eval_fp(tfp, "rob2", mode, share, rc.noise_std, n, rc.repeats)
                    d = self.out / "robustness" / key / f"{mode}-{share:g}"
                    if self.state.done(step, fp):
                        continue
                    agent = agent or self.backend.load(self.run_dir(key, seed), entry, self.cfg)
                    if not agent.expert_names:
                        raise NavFusionError(f"robustness.agents: {key} has no per-representation inputs to drop")
                    K = len(agent.expert_names)
                    m = int(round(share * K))
                    parts, scenes = [], []
                    for r in range(rc.repeats):
                        # Mode-independent draws: drop and noise corrupt the same experts, and the
                        # share-0 points of both curves are the same evaluation.
                        rng = np.random.default_rng(eval_seed("robust", share, r))
                        hit = np.zeros(K, bool)
                        hit[rng.choice(K, size=m, replace=False)] = True
                        kw = {"expert_mask": ~hit} if mode == "drop" else {"noise_mask": hit,
                                                                           "noise_std": rc.noise_std}
                        res, scene, _ = evaluate_agent(agent, self.scenes(), episodes_per_scene=n,
                                                       seed=eval_seed(key, share, r),
                                                       horizon=self.cfg.horizon, radius=self.cfg.success_radius,
                                                       **kw)
                        parts.append(res)
                        scenes.append(scene)
                    from navfusion.eval.batched import EpisodeResults

                    s = save_results(d, EpisodeResults.concat(parts), np.concatenate(scenes),
                                     title=f"{key}: {mode} {share:g}", n_boot=self.cfg.bootstrap)
                    self.state.mark(step, fp)
                    self._msg(f"robustness {key} {mode} {share:g}: success {s['success']:.3f}")

    def step_situational(self) -> None:
        sc = self.cfg.situational
        key = sc.agent
        seed = self.cfg.seeds[0]
        entry = self.cfg.agents[key]
        fp = self._eval_fp(self._train_fp(key, seed, entry), "sit", asdict(sc))
        d = self.out / "situational"
        if self.state.done("situational", fp) and (d / "situational.json").is_file():
            self._msg("situational analysis: reused")
            return
        from navfusion.viz.situational import situational_analysis

        agent = self.backend.load(self.run_dir(key, seed), entry, self.cfg)
        situational_analysis(agent, self.scenes(), d, seed=seed,
                             episodes_per_scene=min(self.cfg.episodes_per_scene, 128), map_scenes=sc.scenes,
                             animate=sc.animate, horizon=self.cfg.horizon, radius=self.cfg.success_radius,
                             log=self._msg)
        self.state.mark("situational", fp)

    # ------------------------------------------------------------------ main
    def run(self) -> Path:
        c = self.cfg
        atomic_write_text(self.out / "recipe.yaml", Path(self.recipe_path).read_text()
                          if Path(self.recipe_path).is_file() else json.dumps(self.raw))
        self.step_prepare()
        for key, entry in c.agents.items():
            for seed in c.seeds:
                tfp = self.step_train(key, entry, seed)
                self.step_eval(key, entry, seed, tfp)
        if c.single_experts is not None:
            for seed in c.seeds:
                self.step_single(seed)
        if c.robustness is not None:
            self.step_robustness()
        if c.situational is not None:
            self.step_situational()
        from navfusion.eval.report import write_report

        index = write_report(self)
        self._msg(f"report: {index}")
        return index


def reproduce(recipe: str | Path, out: str | Path, backend: Backend | None = None,
              log: Callable[[str], None] = print) -> Path:
    """Run a reproduction recipe into ``out``; returns the path of ``index.html``."""
    return Reproduction(recipe, out, backend=backend, log=log).run()


def load_eval(out: Path, key: str, seeds: list[int]):
    """Per-seed (results, scene) pairs of an agent's saved evaluations."""
    return [load_results(out / "eval" / f"{key}-s{s}") for s in seeds]


__all__ = ["Reproduction", "ReproduceConfig", "StepState", "check_out_dir", "load_eval", "reproduce"]
