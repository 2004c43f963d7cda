"""Imitation learning from the shortest-path oracle (behaviour cloning + DAgger).

The loop, top to bottom:

1. load the train and val splits as lookup tables (features from the FeatureStore, RGB views);
2. seed the state buffer with oracle-path states (``initial_states``);
3. every ``dagger_every`` iterations from ``dagger_start`` on, roll out the current policy (mixed
   with the oracle at rate ``dagger_beta ** round``) and add the visited states, relabelled by the
   oracle;
4. each iteration: draw ``batch_size`` states from the buffer, look up their inputs, minimise the
   agent's imitation loss (mixture likelihood for action fusion) with Adam;
5. log to CSV + TensorBoard, checkpoint ``last`` every ``checkpoint_every`` iterations, validate
   every ``eval_every`` iterations and keep ``best`` by validation success.

Resuming (same ``--out``) restores model, optimiser, every RNG, the buffer and the iteration, so a
killed run finishes with bit-identical weights (see ``navfusion.train.resume``). A non-finite loss
stops the run with a message; the last checkpoint written before it stays the last good one.
Data-parallel runs: ``navfusion.train.data_parallel``; the scalar log: ``navfusion.train.run_log``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from navfusion.agents import AgentConfig, create_agent, load_affinity_matrix, resolve_encoders
from navfusion.agents.models import Agent
from navfusion.config import check, from_dict
from navfusion.device import autocast, host_model, prepare_model
from navfusion.errors import NavFusionError
from navfusion.parallel.device_data import on_device
from navfusion.parallel.world import World
from navfusion.train import checkpoint as ckpt
from navfusion.train.augment import rotate_views, rotation_steps
from navfusion.train.data import NavData, load_split, suite_of_env
from navfusion.train.data_parallel import joined_world, rank0_first
from navfusion.train.resume import LoopState, last_good, restore, save_best, save_last, write_run_config
from navfusion.train.rollout import dagger_states, evaluate, oracle_states
from navfusion.train.run_log import MetricsLog, NullLog, RunLog


class TrainingDiverged(NavFusionError):
    """The loss became NaN/inf; training stopped and the last good checkpoint was kept."""


@dataclass
class TrainConfig:
    """Imitation-training settings (a recipe's ``train:`` section, then the command line, override these).

    Attributes:
        env: environment id (``NavFusion/OctoNav-<suite>-v0``) or suite name.
        iterations: optimiser steps (paper: 16000).
        batch_size: states per step (paper: 256; 64 for ResNet).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        grad_clip: max global gradient norm (0: off).
        seed: seeds model initialisation, the state sampler and rollouts.
        initial_states: oracle-path seed states: 0 = every reachable node per target, else random
            episode starts per scene whose oracle paths are added.
        min_state_distance: states this close to the goal or closer are not trained on: with the
            paper's success rule (reach within 3 steps) such states end the episode, so the default
            4 never teaches the agent to stop (stopping can only fail); 0 trains on every state.
        feature_noise: Gaussian noise (std relative to each representation's RMS) added to the
            features of training batches -- a regulariser against memorising the few training
            scenes' nodes (0: off).
        view_rotation: world-rotation augmentation of training batches (views and oracle moves
            turned together, see ``navfusion.train.augment``): 0 off, 2 random quarter turns,
            1 random 45° turns.
        dagger_start, dagger_every: first DAgger round and rounds' spacing in iterations (0: off).
        dagger_episodes: rollouts per scene and round.
        dagger_beta: probability that the oracle acts in a rollout step, ``dagger_beta ** round``.
        eval_every: validation period in iterations (0: only at the end); ``best`` is the checkpoint
            with the highest validation success, so the model choice is made on ``val_split``.
        val_episodes: validation episodes per scene (NAV's fixed evaluation episodes, seed 0).
        val_split, train_split: split names (``val_split`` may not be ``test``: selection happens on val).
        max_scenes: use only the first scenes of each split (quick runs).
        max_val_scenes: use only the first scenes of the val split (None: as ``max_scenes``); a recipe
            keeps its validation cost when the suite's val split grows (e.g. for the probe).
        checkpoint_every: period of the ``last`` checkpoint.
        log_every: period of CSV/TensorBoard rows.
        threads: torch CPU threads (0: leave torch's default).
        device: ``cpu`` (default), ``cuda`` (each torchrun rank takes ``cuda:<LOCAL_RANK>``) or ``auto``.
        amp: ``off`` or ``bf16`` (autocast of forward and loss; weights and Adam stay float32).
    """

    env: str = "NavFusion/OctoNav-tiny-v0"
    iterations: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    seed: int = 0
    initial_states: int = 0
    min_state_distance: int = 4
    feature_noise: float = 0.0
    view_rotation: int = 0
    dagger_start: int = 500
    dagger_every: int = 250
    dagger_episodes: int = 64
    dagger_beta: float = 0.5
    eval_every: int = 500
    val_episodes: int = 64
    val_split: str = "val"
    train_split: str = "train"
    max_scenes: int | None = None
    max_val_scenes: int | None = None
    checkpoint_every: int = 100
    log_every: int = 10
    threads: int = 0
    device: str = "cpu"
    amp: str = "off"

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "checkpoint_every", "log_every"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 1, name, v, "an int >= 1")
        for name in ("initial_states", "min_state_distance", "dagger_start", "dagger_every", "dagger_episodes",
                     "eval_every", "val_episodes", "threads", "seed"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 0, name, v, "an int >= 0")
        check(isinstance(self.lr, (int, float)) and self.lr > 0, "lr", self.lr, "a positive number")
        check(isinstance(self.feature_noise, (int, float)) and self.feature_noise >= 0, "feature_noise",
              self.feature_noise, "a number >= 0")
        check(self.view_rotation in (0, 1, 2), "view_rotation", self.view_rotation,
              "0 (off), 2 (quarter turns) or 1 (45-degree turns)")
        check(isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0, "weight_decay",
              self.weight_decay, "a number >= 0")
        check(isinstance(self.grad_clip, (int, float)) and self.grad_clip >= 0, "grad_clip", self.grad_clip, ">= 0")
        check(isinstance(self.dagger_beta, (int, float)) and 0 <= self.dagger_beta <= 1, "dagger_beta",
              self.dagger_beta, "a number in [0, 1]")
        check(self.max_scenes is None or (isinstance(self.max_scenes, int) and self.max_scenes >= 1), "max_scenes",
              self.max_scenes, "null or an int >= 1")
        check(self.max_val_scenes is None or (isinstance(self.max_val_scenes, int) and self.max_val_scenes >= 1),
              "max_val_scenes", self.max_val_scenes, "null or an int >= 1")
        check(isinstance(self.device, str)
              and (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:")),
              "device", self.device, "'cpu', 'cuda', 'cuda:N' or 'auto'")
        check(self.amp in ("off", "bf16"), "amp", self.amp, "'off' or 'bf16'")
        # best.safetensors is chosen by validation success: a model choice, so never on test.
        check(self.val_split not in ("test", self.train_split), "val_split", self.val_split,
              f"a held-out split other than test and train_split ({self.train_split}), e.g. 'val'")


def resolve_train_config(agent_cfg: AgentConfig, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults ← the recipe's ``train:`` section ← ``overrides`` (command line; ``None`` values ignored)."""
    data = dict(agent_cfg.train)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_dict(TrainConfig, data, where=f"agent {agent_cfg.name!r} train config")


def build_agent(agent_cfg: AgentConfig, data: NavData, seed: int) -> Agent:
    """The recipe's model for ``data``'s inputs, initialised from ``seed``."""
    affinity = load_affinity_matrix(agent_cfg, list(data.spec.encoders)) if agent_cfg.uses_features else None
    torch.manual_seed(seed)  # module initialisers draw from the default generator
    return create_agent(agent_cfg, data.spec, affinity)


def load_data(agent_cfg: AgentConfig, cfg: TrainConfig, split: str, episodes: int = 0) -> NavData:
    """Load one split for the recipe (features of its encoders; RGB at its resolution when used)."""
    suite = suite_of_env(cfg.env)
    encoders = resolve_encoders(agent_cfg)
    res = agent_cfg.rgb_resolution if agent_cfg.uses_rgb else None
    cap = cfg.max_val_scenes if split == cfg.val_split and cfg.max_val_scenes else cfg.max_scenes
    return load_split(suite, split, encoders, res, episodes_per_scene=episodes, max_scenes=cap)


# ----------------------------------------------------------------------------- the loop

@dataclass
class TrainResult:
    out: Path
    iterations: int
    best_val_success: float | None
    last_val_success: float | None
    resumed_from: int | None


def train_imitation(agent_cfg: AgentConfig, cfg: TrainConfig, out: str | os.PathLike,
                    train_data: NavData | None = None, val_data: NavData | None = None,
                    progress: bool = True, restart: bool = False, stop_after: int | None = None,
                    world: World | None = None) -> TrainResult:
    """Train ``agent_cfg`` by imitation into run folder ``out`` (resuming a previous run there).

    Args:
        train_data, val_data: preloaded splits (tests, notebooks); loaded from ``cfg.env`` otherwise.
        restart: ignore an existing checkpoint in ``out`` and start over.
        stop_after: stop (as if killed) after this many iterations in this call -- for tests and
            time-sliced jobs; the run resumes from its last checkpoint.
        world: the data-parallel group (default: joined from torchrun's environment, else a single
            process). Every rank draws the same global batch and trains on its slice; rank 0 alone
            writes files, logs and validates (see ``navfusion.train.data_parallel``).
    """
    with joined_world(world, cfg.device) as world:
        world.check_batch(cfg.batch_size)
        out = Path(out)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if train_data is None:
            train_data, val_data = rank0_first(world, lambda: _load_splits(agent_cfg, cfg, val_data))
        agent = prepare_model(build_agent(agent_cfg, train_data, cfg.seed), world.device)
        resolved = {"agent": agent_cfg.to_dict(), "train": asdict(cfg),
                    "encoders": list(train_data.spec.encoders),
                    "feature_shapes": [list(s) for s in train_data.spec.feature_shapes],
                    "train_scenes": train_data.scene_ids,
                    "val_scenes": None if val_data is None else val_data.scene_ids,
                    "world": {"size": world.size, "device": str(world.device)}}
        opt = torch.optim.Adam(agent.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) \
            if agent.trainable else None
        rng = np.random.default_rng(cfg.seed)
        found = None if restart else ckpt.find_resume(out / "checkpoints")
        if found is not None:
            state = restore(found, out, resolved, _DEFAULTS, agent, opt, rng)
        else:
            if world.is_main:
                out.mkdir(parents=True, exist_ok=True)
            state = LoopState(rng, oracle_states(train_data, rng, cfg.initial_states, cfg.min_state_distance))
        if world.is_main:
            write_run_config(out, resolved)
        logger: RunLog = MetricsLog(out, state.resumed_from) if world.is_main else NullLog()
        loop = _Loop(agent_cfg, cfg, world, agent, opt, train_data, val_data, out / "checkpoints", logger, state)
        it, done_here = loop.run(progress and world.is_main, stop_after)
        if world.is_main and val_data is None and state.best is None and done_here and it + 1 == cfg.iterations:
            save_best(out / "checkpoints", agent, cfg.iterations)
        world.barrier()  # no rank returns before rank 0's files are complete (a resuming call reads them)
    return TrainResult(out, it + 1 if done_here else state.start, state.best, loop.last_val, state.resumed_from)


def _load_splits(agent_cfg: AgentConfig, cfg: TrainConfig, val_data: NavData | None) -> tuple[NavData, NavData | None]:
    """The train split, and the val split unless given or validation is off."""
    train_data = load_data(agent_cfg, cfg, cfg.train_split)
    if val_data is None and cfg.val_episodes > 0:
        val_data = load_data(agent_cfg, cfg, cfg.val_split, episodes=cfg.val_episodes)
    return train_data, val_data


class _Loop:
    """The iterations of one :func:`train_imitation` call, top to bottom in :meth:`run`."""

    def __init__(self, agent_cfg: AgentConfig, cfg: TrainConfig, world: World, agent: Agent,
                 opt: torch.optim.Optimizer | None, train_data: NavData, val_data: NavData | None,
                 ck_dir: Path, logger: RunLog, state: LoopState) -> None:
        self.name, self.cfg, self.world = agent_cfg.name, cfg, world
        self.agent, self.opt, self.trainable = agent, opt, agent.trainable
        self.train_data, self.val_data = train_data, val_data
        self.ck_dir, self.logger, self.state = ck_dir, logger, state
        self.model = world.wrap(agent)  # DDP when distributed: gradients averaged over ranks
        self.roll = host_model(agent, world.device, cfg.amp)  # rollouts/validation read outputs on the host
        self.batch_data = on_device(train_data, world.device)  # features resident on the GPU when they fit
        self.last_val: float | None = None
        self.t_data = self.t_model = 0.0

    def run(self, progress: bool, stop_after: int | None) -> tuple[int, int]:
        """Iterate from ``state.start`` to ``cfg.iterations`` (or ``stop_after`` iterations);
        returns (the last iteration's index, iterations run in this call)."""
        from tqdm import tqdm

        cfg, start = self.cfg, self.state.start
        bar = tqdm(total=cfg.iterations, initial=start, desc=f"train {self.name}", unit="it",
                   disable=not progress, dynamic_ncols=True)
        self.agent.train()
        done_here = 0
        it = start
        try:
            for it in range(start, cfg.iterations):
                self._dagger(it)
                logs = self._step(it) if self.trainable else {}
                self._after(it + 1, logs, bar)
                bar.update(1)
                done_here += 1
                if progress and done_here == ETA_AFTER:
                    bar.write(eta_line(self.name, self.t_data + self.t_model, done_here, cfg.iterations - it - 1))
                if stop_after is not None and done_here >= stop_after:
                    break
        finally:
            bar.close()
            self.logger.close()
        return it, done_here

    def _dagger(self, it: int) -> None:
        """At DAgger iterations, add the current policy's states, relabelled by the oracle (rank 0
        rolls out; every rank receives the states and the advanced RNG)."""
        cfg, st = self.cfg, self.state
        if not (self.trainable and cfg.dagger_every and it >= cfg.dagger_start and it > 0
                and (it - cfg.dagger_start) % cfg.dagger_every == 0):
            return
        beta = cfg.dagger_beta ** ((it - cfg.dagger_start) // cfg.dagger_every)
        new = self.world.main_only(lambda: dagger_states(
            self.roll, self.train_data, st.rng, cfg.dagger_episodes, beta, cfg.min_state_distance), st.rng)
        st.buffer = np.concatenate([st.buffer, new])

    def _step(self, it: int) -> dict[str, float]:
        """One optimiser step on a batch drawn from the buffer (this rank's slice); returns the logs."""
        cfg, world, st = self.cfg, self.world, self.state
        t0 = time.perf_counter()
        pick = world.shard(st.buffer[st.rng.integers(len(st.buffer), size=cfg.batch_size)])
        s, n, tg = pick[:, 0], pick[:, 1], pick[:, 2]
        inp = self.batch_data.inputs(s, n, tg)
        actions = torch.as_tensor(self.train_data.oracle(s, n, tg)).to(world.device, non_blocking=True)
        free = torch.as_tensor(self.train_data.free(s, n)).to(world.device, non_blocking=True)
        if cfg.view_rotation:
            turns = world.shard(rotation_steps(st.rng, cfg.batch_size, cfg.view_rotation))
            inp, actions, free = rotate_views(inp, actions, free, turns)
        t1 = time.perf_counter()
        with autocast(world.device, cfg.amp):
            out_p = self.model(inp, noise=cfg.feature_noise)  # noise draws from torch RNG (checkpointed)
            loss, logs = self.agent.loss(out_p, actions, free)
        global_loss = world.mean(float(loss.detach()))  # every rank sees a NaN anywhere
        if not math.isfinite(global_loss):
            raise TrainingDiverged(
                f"loss became {float(loss.detach())} at iteration {it}; training stopped. "
                f"Last good checkpoint: {last_good(self.ck_dir)}. Lower the learning rate (lr={cfg.lr}) or check "
                "the features for NaN/inf."
            )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            gn = torch.nn.utils.clip_grad_norm_(self.agent.parameters(), cfg.grad_clip)
            logs["grad_norm"] = float(gn)
        self.opt.step()
        self.t_data += t1 - t0
        self.t_model += time.perf_counter() - t1
        logs["loss"] = global_loss
        logs["buffer"] = float(len(st.buffer))
        if out_p.gate is not None:
            g = out_p.gate.detach()
            logs["gate_entropy"] = float(-(g * g.clamp_min(1e-12).log()).sum(-1).mean())
        return logs

    def _after(self, done: int, logs: dict[str, float], bar: Any) -> None:
        """Log, validate (keeping ``best``) and checkpoint ``last`` when their periods say so."""
        cfg, st = self.cfg, self.state
        if done % cfg.log_every == 0 or done == cfg.iterations:
            logs["data_share"] = self.t_data / max(self.t_data + self.t_model, 1e-9)
            self.logger.log(done, logs)
            bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.3f}",
                            val=f"{self.last_val:.2f}" if self.last_val is not None else "-")
        if not self.world.is_main:
            return
        if self.val_data is not None and ((cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.iterations):
            self.last_val = evaluate(self.roll, self.val_data, seed=0).success
            self.logger.log(done, {"val_success": self.last_val})
            if st.best is None or self.last_val > st.best:
                st.best = self.last_val
                save_best(self.ck_dir, self.agent, done, st.best)
        if done % cfg.checkpoint_every == 0 or done == cfg.iterations:
            self.logger.flush()
            save_last(self.ck_dir, self.agent, self.opt, st, done)


#: Iterations timed before :func:`eta_line` is printed (the first ones include warm-up, so the
#: estimate errs long rather than short).
ETA_AFTER = 5


def eta_line(name: str, seconds: float, done: int, remaining: int, now: float | None = None) -> str:
    """``train X: 1.30 s/it over the first 5 iterations -> about 43 min for the remaining 1995 (ends ~14:32)``.

    ``seconds``: time of the ``done`` timed iterations (optimiser steps only: DAgger rounds and
    validation come on top, which the line says).
    """
    per = seconds / max(done, 1)
    left = per * max(remaining, 0)
    h, m = divmod(int(round(left / 60)), 60)
    span = f"{h} h {m:02d} min" if h else (f"{m} min" if m else f"{left:.0f} s")
    end = time.strftime("%H:%M", time.localtime((now or time.time()) + left))
    return (f"train {name}: {per:.2f} s/it over the first {done} iterations -> about {span} for the remaining "
            f"{remaining} (ends ~{end}; DAgger rounds and validation add to this)")


_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}
