"""``navfusion reproduce``: build, train every agent over seeds, evaluate on unseen scenes, report.

Every step leaves a done-marker (``state/<step>.json``) holding a fingerprint of the settings it
depends on, written only after the step's outputs. A re-run skips steps whose marker matches (so
a finished folder is reused as is and its tables come out identical), continues an interrupted
run where it stopped (training itself resumes from its own checkpoints), and redoes a step whose
settings changed. Tables and figures are always re-derived from the saved per-episode results.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.eval.evaluate import eval_seed, evaluate_agent, save_results
from navfusion.eval.heldout import fresh_suite, parse_seed_block
from navfusion.io import atomic_write_json, atomic_write_text, hash_jsonable
from navfusion.report.backend import Backend, get_backend
from navfusion.report.recipe import ReproduceConfig, load_recipe, resolve_recipe_path
from navfusion.report.writer import write_report
from navfusion.train.speed import tune_allocator
from navfusion.viz.situational import situational_analysis


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children: on a shared machine
    the step timings to compare are these, not the wall clock."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class StepState:
    """Done-markers under ``<out>/state``."""

    def __init__(self, root: Path):
        self.root = root
        self.begin()

    def begin(self) -> None:
        """Start timing the next step (``mark`` records wall and CPU seconds since)."""
        self._t, self._c = time.perf_counter(), cpu_seconds()

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
                                             "seconds": round(time.perf_counter() - self._t, 1),
                                             "cpu_seconds": round(cpu_seconds() - self._c, 1), **info})
        self.begin()


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
                 log: Callable[[str], None] = print, test_seeds: str | None = None):
        self.cfg, self.raw = load_recipe(recipe)
        self.recipe_path = str(recipe)
        self.test_seeds = test_seeds or self.cfg.test_seeds
        self.test_block = None
        if self.test_seeds:
            # Scenes of the suite's generator from a block no suite names: trained runs are reused
            # (their fingerprints do not involve the test scenes), every evaluation is redone.
            self.test_block = parse_seed_block(self.test_seeds)
            self.cfg.eval_suite = fresh_suite(self.cfg.suite, self.test_block)
            self.cfg.eval_split = "test"
        self.out = check_out_dir(out)
        self._own_backend = backend is None  # worker processes can rebuild only the default backend
        self.backend = backend or get_backend(self.cfg.suite)
        self.backend.check(self.cfg)
        self.state = StepState(self.out / "state")
        self.log = log
        self.t0 = time.time()  # wall clock: worker processes log against the driver's start
        self.c0 = cpu_seconds()
        self._scenes = None
        self._agents: dict[tuple[str, int], tuple[str, Any]] = {}
        self.worker = ""
        #: Markdown of Table 1 and of the verdicts, set by :meth:`run` (the command line prints them).
        self.table_markdown = ""
        self.findings_markdown = ""

    # ------------------------------------------------------------------ helpers
    def _msg(self, text: str) -> None:
        who = f" {self.worker}" if self.worker else ""
        self.log(f"[{time.time() - self.t0:7.1f}s cpu {cpu_seconds() - self.c0:6.1f}s{who}] {text}")

    def _fp(self, *parts: Any) -> str:
        return hash_jsonable([self.cfg.suite, self.cfg.resolution, *parts])

    def _train_fp(self, key: str, seed: int, entry) -> str:
        c = self.cfg
        return self._fp("train", entry.agent, entry.train, entry.overrides, c.agent_overrides, c.train, c.train_split,
                        seed)

    def _eval_fp(self, train_fp: str, *extra: Any) -> str:
        c = self.cfg
        # The evaluation suite enters only when it differs, so older folders' markers stay valid.
        where = [c.eval_suite] if c.eval_suite else []
        return hash_jsonable([train_fp, c.eval_split, *where, c.max_test_scenes, c.episodes_per_scene, c.horizon,
                              c.success_radius, c.bootstrap, *extra])

    def scenes(self):
        if self._scenes is None:
            self._scenes = [self.backend.scene(s, self.cfg) for s in self.backend.test_scenes(self.cfg)]
        return self._scenes

    def run_dir(self, key: str, seed: int) -> Path:
        return self.out / "runs" / f"{key}-s{seed}"

    def _load(self, key: str, seed: int, entry):
        """The trained agent (kept for this run: its evaluation tables serve later steps, e.g. the
        uncorrupted robustness points reuse the evaluation's)."""
        fp = self._train_fp(key, seed, entry)
        hit = self._agents.get((key, seed))
        if hit is None or hit[0] != fp:
            hit = (fp, self.backend.load(self.run_dir(key, seed), entry, self.cfg))
            self._agents[(key, seed)] = hit
        return hit[1]

    # ------------------------------------------------------------------ steps
    def step_prepare(self) -> None:
        c = self.cfg
        self.log("[wall s since start  cpu s: CPU time of this process and its finished workers; "
                 "in lines marked p<pid>, that worker's own CPU time]")
        fp = self._fp("prepare", c.build, c.eval_split, c.max_test_scenes, c.episodes_per_scene,
                      *([c.eval_suite] if c.eval_suite else []))
        if self.state.done("prepare", fp):
            self._msg("build: reused")
            return
        self._msg(f"build: suite {c.suite} (scenes, graphs, views, features) ...")
        self.state.begin()
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
        self._msg(f"train {key} ({entry.agent}) seed {seed} ...")
        self.state.begin()
        self.backend.train(key, entry, seed, rd, self.cfg, self._msg)
        self.state.mark(step, fp)
        return fp

    def step_eval(self, key: str, entry, seed: int, train_fp: str) -> None:
        fp = self._eval_fp(train_fp)
        step = f"eval/{key}/s{seed}"
        d = self.out / "eval" / f"{key}-s{seed}"
        if self.state.done(step, fp) and (d / "episodes.npz").is_file():
            self._msg(f"evaluate {key} seed {seed}: reused")
            return
        self.state.begin()
        agent = self._load(key, seed, entry)
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
        self.state.begin()
        agent = self._load("single_experts", seed, e)
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

    def step_robustness_of(self, key: str) -> None:
        rc = self.cfg.robustness
        seed = self.cfg.seeds[0]
        n = rc.episodes_per_scene or self.cfg.episodes_per_scene
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
                self.state.begin()
                agent = agent or self._load(key, seed, entry)
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
                from navfusion.nav.engine import EpisodeResults

                s = save_results(d, EpisodeResults.concat(parts), np.concatenate(scenes),
                                 title=f"{key}: {mode} {share:g}", n_boot=self.cfg.bootstrap)
                self.state.mark(step, fp)
                self._msg(f"robustness {key} {mode} {share:g}: success {s['success']:.3f}")

    def step_situational(self) -> None:
        sc = self.cfg.situational
        key = sc.agent
        seed = self.cfg.seeds[0]
        entry = self.cfg.agents[key]
        fp = self._eval_fp(self._train_fp(key, seed, entry), "sit-nodes", asdict(sc))
        d = self.out / "situational"
        if self.state.done("situational", fp) and (d / "situational.json").is_file() and (d / "nodes.npz").is_file():
            self._msg("situational analysis: reused")
            return
        self.state.begin()
        agent = self._load(key, seed, entry)
        situational_analysis(agent, self.scenes(), d, seed=seed,
                             episodes_per_scene=min(self.cfg.episodes_per_scene, 128), map_scenes=sc.scenes,
                             animate=sc.animate, horizon=self.cfg.horizon, radius=self.cfg.success_radius,
                             log=self._msg)
        self.state.mark("situational", fp)

    # ------------------------------------------------------------------ parallel
    def tasks(self) -> list[tuple]:
        """The independent units of work after the build, in the order a pool should start them.

        One task per agent and seed (train, evaluate, and for the first seed that agent's
        robustness points and the situational analysis, which reuse its evaluation tables), one per
        seed for the single-expert bank. Tasks with the most extra steps go first, untrained agents
        last, so the long ones do not end up alone at the tail.
        """
        c = self.cfg
        rob = set(c.robustness.agents) if c.robustness is not None else set()
        sit = c.situational.agent if c.situational is not None else None
        ranked = []
        for i, (key, entry) in enumerate(c.agents.items()):
            extra = (len(c.robustness.modes) * len(c.robustness.shares) if key in rob else 0) + (2 if key == sit else 0)
            trivial = key == "random" or entry.agent == "random"
            for seed in c.seeds:
                first = seed == c.seeds[0]
                ranked.append(((trivial, -(extra if first else 0), i), ("agent", key, seed)))
        if c.single_experts is not None:
            for seed in c.seeds:
                ranked.append(((False, 0, len(c.agents)), ("single", seed)))
        return [t for _, t in sorted(ranked, key=lambda r: r[0])]

    def run_task(self, task: tuple) -> None:
        """Run one unit of :meth:`tasks` in this process."""
        c = self.cfg
        if task[0] == "single":
            self.step_single(task[1])
            return
        _, key, seed = task
        entry = c.agents[key]
        tfp = self.step_train(key, entry, seed)
        self.step_eval(key, entry, seed, tfp)
        if seed == c.seeds[0]:
            if c.robustness is not None and key in c.robustness.agents:
                self.step_robustness_of(key)
            if c.situational is not None and key == c.situational.agent:
                self.step_situational()

    def _run_parallel(self, workers: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        tasks = self.tasks()
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._msg(f"train + evaluate: {len(tasks)} tasks on {workers} processes ({threads} torch thread(s) each)")
        recipe = str(resolve_recipe_path(self.recipe_path).resolve())
        args = [(recipe, str(self.out.resolve()), self.t0, threads, t, self.test_seeds) for t in tasks]
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=_init_worker, initargs=(threads,)) as ex:
            pending = {ex.submit(_task_worker, a) for a in args}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()  # re-raises a task's error here
            except BaseException:  # a task's error or Ctrl-C: drop the queued tasks, then re-raise
                for f in pending:
                    f.cancel()
                raise

    def timing(self) -> dict[str, Any]:
        """Wall and CPU seconds per phase from the step markers (``timing.json``), recorded when each
        step ran (a reused step keeps its first timing); with several processes the phases' seconds
        add up to more than the wall time. ``wall_seconds``: this invocation."""
        phases: dict[str, dict[str, float]] = {}
        for p in sorted((self.out / "state").glob("*.json")):
            try:
                d = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            name = p.stem.split("__")[0]
            ph = phases.setdefault(name, {"steps": 0, "seconds": 0.0, "cpu_seconds": 0.0})
            ph["steps"] += 1
            ph["seconds"] = round(ph["seconds"] + float(d.get("seconds") or 0.0), 1)
            ph["cpu_seconds"] = round(ph["cpu_seconds"] + float(d.get("cpu_seconds") or 0.0), 1)
        return {"wall_seconds": round(time.time() - self.t0, 1), "workers": self.cfg.workers, "phases": phases}

    # ------------------------------------------------------------------ main
    def run(self) -> Path:
        c = self.cfg
        # freed training buffers stay in the heap (no page faults per step; navfusion.train.speed);
        # pool processes apply it themselves (_init_worker): mallopt settings are per process
        tune_allocator()
        atomic_write_text(self.out / "recipe.yaml", Path(self.recipe_path).read_text()
                          if Path(self.recipe_path).is_file() else json.dumps(self.raw))
        self.step_prepare()
        if c.workers > 1 and self._own_backend:
            self._run_parallel(c.workers)
        else:
            for task in self.tasks():
                self.run_task(task)
        self._msg("report: tables, figures, index.html ...")
        report = write_report(self.out, c, self.backend, self.test_block)
        self.table_markdown, self.findings_markdown = report.table_markdown, report.findings_markdown
        index = report.index
        t = self.timing()
        atomic_write_json(self.out / "timing.json", t)
        self._msg("step timings (when each step ran; seconds summed over processes): "
                  + ", ".join(f"{k} {v['seconds']:.0f}s (cpu {v['cpu_seconds']:.0f}s)" for k, v in t["phases"].items()))
        self._msg(f"report: {index}")
        return index


_WORKER: dict[tuple, Reproduction] = {}


def _init_worker(threads: int) -> None:
    """Set up a pool process: its torch threads, and the allocator tuning of the parent (``mallopt``
    settings are per process; a spawned child starts with glibc's defaults)."""
    import torch

    tune_allocator()
    torch.set_num_threads(threads)


def _task_worker(args: tuple) -> tuple:
    """Run one task of :meth:`Reproduction.tasks` in a pool process (one Reproduction per process,
    so its loaded scenes and data serve every task the process gets)."""
    recipe, out, t0, _threads, task, test_seeds = args  # threads: set by _init_worker
    rep = _WORKER.get((recipe, out, test_seeds))
    if rep is None:
        rep = Reproduction(recipe, out, log=lambda s: print(s, flush=True), test_seeds=test_seeds)
        rep.t0 = t0
        _WORKER[(recipe, out, test_seeds)] = rep
    rep.worker = f"p{os.getpid()}"
    rep.run_task(task)
    return task


def reproduce(recipe: str | Path, out: str | Path, backend: Backend | None = None,
              log: Callable[[str], None] = print, test_seeds: str | None = None) -> Path:
    """Run a reproduction recipe into ``out``; returns the path of ``index.html``.

    ``test_seeds`` (``START:COUNT``) evaluates on that fresh seed block instead of the test split.
    """
    return Reproduction(recipe, out, backend=backend, log=log, test_seeds=test_seeds).run()


__all__ = ["Reproduction", "ReproduceConfig", "StepState", "check_out_dir", "reproduce"]
