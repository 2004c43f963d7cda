"""The reproduction backend wired to the real stack: suites → worlds (graph, views) → FeatureStore →
agents trained by imitation (``navfusion.train``) → batched evaluation on the test split.

Thin adapters only: data loading is ``navfusion.train.data.load_split`` (the same lookups training
uses), models come from ``navfusion.agents``, checkpoints from ``navfusion.train.checkpoint``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from navfusion.agents.memory import ActionMemory, with_memory
from navfusion.build.jobs import SceneJob, run_job
from navfusion.common import TARGETS, cache_root
from navfusion.errors import NavFusionError
from navfusion.eval.backend import SceneData
from navfusion.nav.policies import ActionProbs, StochasticPolicy, sample_actions

#: Evaluation episodes are NAV's fixed sets with this seed (the same files every run reads).
EPISODE_SEED = 0
#: States per forward pass during evaluation (bounds memory: B x K x 8 x C x h x w features).
CHUNK = 256


def env_id(suite: str) -> str:
    return f"NavFusion/OctoNav-{suite}-v0"


def openness_of(world) -> np.ndarray:
    """(N,) distance in metres from each node to the nearest occupied cell of the scene (at agent height)."""
    import cv2

    occ = world.graph.occupancy
    dist = cv2.distanceTransform((~occ.occupied).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    row, col = occ.to_cell(world.graph.positions[:, :2])
    h, w = dist.shape
    row, col = np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)
    return dist[row, col].astype(np.float64) * occ.resolution


def find_checkpoint(run_dir: Path) -> Path:
    """``checkpoints/best.safetensors`` (else ``last``) of a run folder; none is a one-line error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NavFusionError(f"run folder not found: {run_dir}")
    for name in ("best.safetensors", "last.safetensors"):
        p = run_dir / "checkpoints" / name
        if p.is_file():
            return p
    raise NavFusionError(f"run folder {run_dir} has no checkpoint (checkpoints/best.safetensors or "
                         "last.safetensors); train it with `navfusion train ... --out` first")


def unfinished_warning(run_dir: Path) -> str | None:
    """A one-line warning when a run folder's training stopped before its planned iterations, else None.

    The iteration reached is the newest ``last``/``prev`` checkpoint's; the plan is ``config.json``'s
    ``train.iterations``.
    """
    from navfusion.train import checkpoint as ckpt

    run_dir = Path(run_dir)
    try:
        planned = int(run_config(run_dir)["train"]["iterations"])
    except (NavFusionError, KeyError, TypeError, ValueError):
        return None
    done = []
    for name in ("last.safetensors", "prev.safetensors"):
        p = run_dir / "checkpoints" / name
        if p.is_file():
            try:
                done.append(int(ckpt.read_metadata(p).get("iteration", -1)))
            except (NavFusionError, ValueError):
                continue
    reached = max(done, default=None)
    if reached is None or reached >= planned:
        return None
    best = run_dir / "checkpoints" / "best.json"
    which = ""
    if best.is_file():
        try:
            which = f"; checkpoints/best.safetensors is from iteration {json.loads(best.read_text())['iteration']}"
        except (OSError, ValueError, KeyError):
            which = ""
    return (f"warning: {run_dir} stopped at iteration {reached} of {planned} planned{which}; the numbers below are "
            "of an unfinished run (re-run the same `navfusion train` command to finish it)")


def run_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config ``navfusion train`` wrote into a run folder."""
    from navfusion.io import read_json

    p = Path(run_dir) / "config.json"
    if not p.is_file():
        raise NavFusionError(f"run folder {run_dir} has no config.json (not a `navfusion train` run folder?)")
    rc = read_json(p, "run config")
    ok = isinstance(rc, dict) and isinstance(rc.get("agent"), dict) and isinstance(rc.get("train"), dict) \
        and "env" in rc["train"] and "iterations" in rc["train"]
    if not ok:
        raise NavFusionError(f"run config {p} is not what `navfusion train` writes (needs the mappings 'agent' and "
                             "'train' with 'env' and 'iterations'); re-run the training or restore the file")
    return rc


class _Table:
    """Per-state outputs of one (scene, corruption) setting, filled as episodes visit states:
    ``probs`` (N, T, 9) (or (N, T, K, 9) per expert), ``gates`` (N, T, K) or None, ``have`` (N, T)."""

    def __init__(self, num_nodes: int, num_targets: int, seed: int):
        self.have = np.zeros((num_nodes, num_targets), bool)
        self.probs: np.ndarray | None = None
        self.gates: np.ndarray | None = None
        self.gen = torch.Generator().manual_seed(seed)


class RealAgent:
    """A trained agent plus the test-split lookups it reads (see ``LoadedAgent``)."""

    def __init__(self, agent, agent_cfg, data):
        self.agent = agent.eval()
        self.cfg = agent_cfg
        self.data = data
        self.expert_names = list(data.spec.encoders) if agent_cfg.uses_features else None
        self._tables: dict[tuple, _Table] = {}

    def _scene_index(self, sd: SceneData) -> int:
        try:
            return self.data.scene_ids.index(sd.scene_id)
        except ValueError:
            raise NavFusionError(f"scene {sd.scene_id} is not in the loaded evaluation split "
                                 f"({', '.join(self.data.scene_ids)})") from None

    def _forward(self, s: int, nodes: np.ndarray, targets: np.ndarray, mask, noise_mask, noise_std, gen):
        inp = self.data.inputs(np.full(len(nodes), s), nodes, targets)
        if noise_mask is not None and noise_std > 0 and inp.features is not None:
            inp.features = _noised(inp.features, np.asarray(noise_mask, bool), noise_std, gen)
        return self.agent(inp, expert_mask=mask)

    def _entry(self, s: int, mask, noise_mask, noise_std: float, seed: int, experts: bool = False) -> _Table:
        key = (s, experts, None if mask is None else tuple(np.asarray(mask).tolist()),
               None if noise_mask is None else tuple(np.asarray(noise_mask, bool).tolist()), float(noise_std),
               int(seed) if noise_mask is not None and noise_std > 0 else 0)
        hit = self._tables.get(key)
        if hit is None:
            if len(self._tables) > 64:
                self._tables.clear()
            hit = self._tables[key] = _Table(self.data.arrays[s].num_nodes, len(TARGETS), int(seed))
        return hit

    @torch.no_grad()
    def _fill(self, s: int, tab: _Table, nodes: np.ndarray, targets: np.ndarray, mask, noise_mask,
              noise_std: float, experts: bool = False) -> None:
        """Compute the table rows of the (node, target) states not yet in ``tab``.

        The agents are memoryless functions of (node, target), so a state is evaluated once however
        often episodes visit it, and only states some episode visits are evaluated at all (a
        64-episode robustness point visits a fraction of the scene). Test-time feature noise is
        therefore drawn once per state (a corrupted representation), not at every visit.
        """
        t_count = len(TARGETS)
        nodes, targets = np.asarray(nodes, np.int64), np.asarray(targets, np.int64)
        need = ~tab.have[nodes, targets]
        if not need.any():
            return
        flat = np.unique(nodes[need] * t_count + targets[need])
        nn_, tt = flat // t_count, flat % t_count
        for c in range(0, len(flat), CHUNK):
            n_c, t_c = nn_[c:c + CHUNK], tt[c:c + CHUNK]
            out = self._forward(s, n_c, t_c, mask, noise_mask, noise_std, tab.gen)
            if experts:
                p = torch.softmax(out.expert_logits.float(), -1).double().numpy()
            else:
                p = out.probs.double().numpy()
            if tab.probs is None:
                tab.probs = np.zeros((tab.have.shape[0], t_count, *p.shape[1:]))
                if out.gate is not None and not experts:
                    tab.gates = np.zeros((tab.have.shape[0], t_count, out.gate.shape[1]), np.float32)
            tab.probs[n_c, t_c] = p
            if tab.gates is not None:
                tab.gates[n_c, t_c] = out.gate.float().numpy()
        tab.have[nn_, tt] = True

    def _independent_experts(self) -> bool:
        from navfusion.agents.models import SingleExperts

        return isinstance(self.agent, SingleExperts)

    def policy(self, sd: SceneData, *, seed: int, expert_mask=None, noise_mask=None, noise_std: float = 0.0,
               only_expert: int | None = None, greedy: bool = False):
        s = self._scene_index(sd)
        rng = np.random.default_rng(seed)
        mask = None
        k = len(self.expert_names or [])
        # Corruptions that change nothing (keep every expert, noise on none) share the clean table.
        if expert_mask is not None and bool(np.all(expert_mask)):
            expert_mask = None
        if noise_mask is not None and not bool(np.any(noise_mask)):
            noise_mask = None
        # For a bank of independent single experts, expert k alone (a one-hot expert mask) is the
        # softmax of its own logits in the unmasked pass (its input is feature k; the mask only
        # zeroes the others), so one table serves all K experts instead of K masked passes.
        experts = only_expert is not None and self._independent_experts()
        if only_expert is not None and not experts:
            mask = torch.zeros(k, dtype=torch.bool)
            mask[only_expert] = True
        elif expert_mask is not None:
            mask = torch.as_tensor(np.asarray(expert_mask, bool))
        tab = self._entry(s, mask, noise_mask, noise_std, seed, experts=experts)

        def distribution(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> ActionProbs:
            self._fill(s, tab, nodes, targets, mask, noise_mask, noise_std, experts=experts)
            p = tab.probs[nodes, targets]
            if experts:
                p = p[:, only_expert]
            return ActionProbs(p, None if tab.gates is None else tab.gates[nodes, targets])

        def choose(p: np.ndarray, nodes: np.ndarray, targets: np.ndarray) -> np.ndarray:
            return p.argmax(1) if greedy else sample_actions(p, rng)

        return with_memory(StochasticPolicy(distribution, choose), ActionMemory.from_config(self.cfg.memory))

    def node_gates(self, sd: SceneData, nodes: np.ndarray, target: int) -> np.ndarray | None:
        s = self._scene_index(sd)
        nodes = np.asarray(nodes)
        tab = self._entry(s, None, None, 0.0, 0)
        self._fill(s, tab, nodes, np.full(len(nodes), target), None, None, 0.0)
        return None if tab.gates is None else tab.gates[nodes, target]


def _uses_features(agent: str) -> bool:
    """Whether a recipe name / kind reads encoder features (recipe files are read to find out)."""
    from navfusion.agents import load_agent_config

    try:
        return load_agent_config(agent).uses_features
    except NavFusionError:
        return True


def _noised(features, noise_mask: np.ndarray, std: float, gen: torch.Generator):
    """Gaussian noise of ``std`` × each encoder's feature RMS on the encoders marked in ``noise_mask`` (K,)."""
    per = list(features.unbind(1)) if isinstance(features, torch.Tensor) else list(features)
    out = []
    for k, f in enumerate(per):
        if noise_mask[k]:
            f = f.float()
            rms = f.pow(2).mean().sqrt().clamp_min(1e-6)
            f = f + std * rms * torch.randn(f.shape, generator=gen)
        out.append(f.float())
    if isinstance(features, torch.Tensor):
        return torch.stack(out, 1)
    return out


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
        best = getattr(r, "best_val_success", None)
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
    from navfusion.agents import load_agent_config, resolve_encoders
    from navfusion.train import checkpoint as ckpt
    from navfusion.train.data import load_split, suite_of_env
    from navfusion.train.imitation import build_agent

    run_dir = Path(run_dir)
    ck = find_checkpoint(run_dir)
    rc = run_config(run_dir)
    ac = load_agent_config(rc["agent"])
    suite = suite or suite_of_env(rc["train"]["env"])
    enc = resolve_encoders(ac) if not rc.get("encoders") else list(rc["encoders"])
    res = ac.rgb_resolution if ac.uses_rgb else None
    key = (tuple(enc), res, suite, split, max_scenes)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = load_split(suite, split, enc, res, max_scenes=max_scenes)
    data = cache[key]
    agent = build_agent(ac, data, int(rc["train"].get("seed", 0)))
    ckpt.load_weights(ck, agent)
    return RealAgent(agent, ac, data)
