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
killed run finishes with bit-identical weights. A non-finite loss stops the run with a message;
the last checkpoint written before it stays the last good one.
"""

from __future__ import annotations

import csv
import json
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
from navfusion.io import atomic_write_json, atomic_write_text
from navfusion.parallel.device_data import on_device
from navfusion.parallel.world import World, close_world, init_world
from navfusion.train import checkpoint as ckpt
from navfusion.train.augment import rotate_views, rotation_steps
from navfusion.train.data import NavData, load_split, suite_of_env
from navfusion.train.rollout import dagger_states, evaluate, oracle_states


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


# ----------------------------------------------------------------------------- logging helpers

class _Logger:
    """CSV (``metrics.csv``) + TensorBoard (``tb/``) scalars, resumable at an iteration."""

    def __init__(self, out: Path, resume_at: int | None) -> None:
        self.path = out / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_at is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_at]
        else:
            self.path.unlink(missing_ok=True)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tb"), purge_step=resume_at + 1 if resume_at is not None else None)
        except Exception:  # TensorBoard missing: CSV alone
            self.tb = None

    def log(self, iteration: int, values: dict[str, float]) -> None:
        self.rows.append({"iteration": iteration, **values})
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, iteration)

    def flush(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        lines = [",".join(keys)]
        lines += [",".join("" if r.get(k) in (None, "") else str(r.get(k)) for k in keys) for r in self.rows]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        self.flush()
        if self.tb is not None:
            self.tb.close()


class _NullLogger:
    """What ranks other than 0 log to: nothing."""

    def log(self, iteration: int, values: dict[str, float]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def _set_rng_state(rng: np.random.Generator, text: str) -> None:
    rng.bit_generator.state = json.loads(text)


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
            writes files, logs and validates (see ``navfusion.parallel.world``).
    """
    owns_group = world is None and not (torch.distributed.is_available() and torch.distributed.is_initialized())
    world = world if world is not None else init_world(cfg.device)
    world.check_batch(cfg.batch_size)
    progress = progress and world.is_main
    out = Path(out)
    ck_dir = out / "checkpoints"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    preloaded = train_data is not None
    if not preloaded and not world.is_main:
        world.barrier()  # rank 0 builds missing views/features first (one writer per scene folder)
    if train_data is None:
        train_data = load_data(agent_cfg, cfg, cfg.train_split)
    if val_data is None and not preloaded and cfg.val_episodes > 0:
        val_data = load_data(agent_cfg, cfg, cfg.val_split, episodes=cfg.val_episodes)
    if not preloaded and world.is_main:
        world.barrier()
    agent = prepare_model(build_agent(agent_cfg, train_data, cfg.seed), world.device)
    resolved = {"agent": agent_cfg.to_dict(), "train": asdict(cfg),
                "encoders": list(train_data.spec.encoders),
                "feature_shapes": [list(s) for s in train_data.spec.feature_shapes],
                "train_scenes": train_data.scene_ids,
                "val_scenes": None if val_data is None else val_data.scene_ids,
                "world": {"size": world.size, "device": str(world.device)}}

    trainable = agent.trainable
    opt = torch.optim.Adam(agent.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) if trainable else None
    rng = np.random.default_rng(cfg.seed)
    start_it, best, resumed_from, buffer = 0, None, None, None

    found = None if restart else ckpt.find_resume(ck_dir)
    if found is not None:
        prev_cfg = json.loads((out / "config.json").read_text()) if (out / "config.json").is_file() else None
        if prev_cfg is not None:
            _check_same_run(prev_cfg, resolved, out)
        ckpt.load_weights(found[0], agent)
        st = ckpt.load_state(found[1])
        if opt is not None and st.get("optimizer"):
            opt.load_state_dict(st["optimizer"])
        _set_rng_state(rng, st["numpy_rng"])
        torch.set_rng_state(st["torch_rng"])
        buffer = st["buffer"].numpy().astype(np.int64)
        start_it = resumed_from = int(st["iteration"])
        best = st.get("best_val")
        best = None if best is None or (isinstance(best, float) and math.isnan(best)) else float(best)
    else:
        if world.is_main:
            out.mkdir(parents=True, exist_ok=True)
        buffer = oracle_states(train_data, rng, cfg.initial_states, cfg.min_state_distance)
    if world.is_main:
        atomic_write_json(out / "config.json", resolved)
        try:
            import yaml

            atomic_write_text(out / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
        except Exception:
            pass

    logger = _Logger(out, resumed_from) if world.is_main else _NullLogger()
    model = world.wrap(agent)  # DDP when distributed: gradients averaged over ranks
    roll = host_model(agent, world.device, cfg.amp)  # rollouts/validation read outputs on the host
    batch_data = on_device(train_data, world.device)  # features resident on the GPU when they fit
    last_val = None

    def state_dict(it: int) -> dict[str, Any]:
        return {"optimizer": opt.state_dict() if opt is not None else {}, "numpy_rng": _rng_state(rng),
                "torch_rng": torch.get_rng_state(), "buffer": torch.from_numpy(buffer),
                "best_val": float("nan") if best is None else best, "agent_name": agent_cfg.name}

    from tqdm import tqdm

    bar = tqdm(total=cfg.iterations, initial=start_it, desc=f"train {agent_cfg.name}", unit="it",
               disable=not progress, dynamic_ncols=True)
    agent.train()
    t_data = t_model = 0.0
    done_here = 0
    it = start_it
    try:
        for it in range(start_it, cfg.iterations):
            # DAgger: add the current policy's states, relabelled by the oracle
            if trainable and cfg.dagger_every and it >= cfg.dagger_start and it > 0 \
                    and (it - cfg.dagger_start) % cfg.dagger_every == 0:
                rnd = (it - cfg.dagger_start) // cfg.dagger_every
                new = world.main_only(lambda rnd=rnd: dagger_states(
                    roll, train_data, rng, cfg.dagger_episodes, cfg.dagger_beta ** rnd, cfg.min_state_distance), rng)
                buffer = np.concatenate([buffer, new])
            logs: dict[str, float] = {}
            if trainable:
                t0 = time.perf_counter()
                pick = world.shard(buffer[rng.integers(len(buffer), size=cfg.batch_size)])
                s, n, tg = pick[:, 0], pick[:, 1], pick[:, 2]
                inp = batch_data.inputs(s, n, tg)
                actions = torch.as_tensor(train_data.oracle(s, n, tg)).to(world.device, non_blocking=True)
                free = torch.as_tensor(train_data.free(s, n)).to(world.device, non_blocking=True)
                if cfg.view_rotation:
                    turns = world.shard(rotation_steps(rng, cfg.batch_size, cfg.view_rotation))
                    inp, actions, free = rotate_views(inp, actions, free, turns)
                t1 = time.perf_counter()
                with autocast(world.device, cfg.amp):
                    out_p = model(inp, noise=cfg.feature_noise)  # noise draws from torch RNG (checkpointed)
                    loss, logs = agent.loss(out_p, actions, free)
                global_loss = world.mean(float(loss.detach()))  # every rank sees a NaN anywhere
                if not math.isfinite(global_loss):
                    last = ckpt.find_resume(ck_dir)
                    where = f"{last[0]} (iteration {ckpt.load_state(last[1])['iteration']})" if last else "none yet"
                    raise TrainingDiverged(
                        f"loss became {float(loss.detach())} at iteration {it}; training stopped. "
                        f"Last good checkpoint: {where}. Lower the learning rate (lr={cfg.lr}) or check "
                        "the features for NaN/inf."
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    gn = torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.grad_clip)
                    logs["grad_norm"] = float(gn)
                opt.step()
                t_data += t1 - t0
                t_model += time.perf_counter() - t1
                logs["loss"] = global_loss
                logs["buffer"] = float(len(buffer))
                if out_p.gate is not None:
                    g = out_p.gate.detach()
                    logs["gate_entropy"] = float(-(g * g.clamp_min(1e-12).log()).sum(-1).mean())
            done = it + 1
            if done % cfg.log_every == 0 or done == cfg.iterations:
                logs["data_share"] = t_data / max(t_data + t_model, 1e-9)
                logger.log(done, logs)
                bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.3f}",
                                val=f"{last_val:.2f}" if last_val is not None else "-")
            if world.is_main and val_data is not None and (
                    (cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.iterations):
                last_val = evaluate(roll, val_data, seed=0).success
                logger.log(done, {"val_success": last_val})
                if best is None or last_val > best:
                    best = last_val
                    ckpt.save_weights(ck_dir / "best.safetensors", agent, {"iteration": done, "val_success": best})
                    atomic_write_json(ck_dir / "best.json", {"iteration": done, "val_success": best})
            if world.is_main and (done % cfg.checkpoint_every == 0 or done == cfg.iterations):
                logger.flush()
                ckpt.save_last(ck_dir, agent, state_dict(done), done)
            bar.update(1)
            done_here += 1
            if progress and done_here == ETA_AFTER:
                bar.write(eta_line(agent_cfg.name, t_data + t_model, done_here, cfg.iterations - done))
            if stop_after is not None and done_here >= stop_after:
                break
    except BaseException:
        if owns_group:
            close_world(world)
        raise
    finally:
        bar.close()
        logger.close()
    if world.is_main and val_data is None and best is None and done_here and it + 1 == cfg.iterations:
        ckpt.save_weights(ck_dir / "best.safetensors", agent, {"iteration": cfg.iterations})
    world.barrier()  # no rank returns before rank 0's files are complete (a resuming call reads them)
    if owns_group:
        close_world(world)
    return TrainResult(out, it + 1 if done_here else start_it, best, last_val, resumed_from)


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


def _check_same_run(prev: dict[str, Any], now: dict[str, Any], out: Path) -> None:
    """A run folder resumes only the same agent and data (iterations / eval settings may change)."""
    if prev.get("agent", {}).get("kind") != now["agent"]["kind"] or prev.get("encoders") != now["encoders"]:
        raise NavFusionError(
            f"{out} holds a run of agent {prev.get('agent', {}).get('name')!r} ({prev.get('agent', {}).get('kind')}, "
            f"{len(prev.get('encoders') or [])} encoders); this is {now['agent']['name']!r} ({now['agent']['kind']}). "
            "Use another --out or --restart."
        )
    for key in ("seed", "batch_size", "lr", "initial_states", "min_state_distance", "dagger_start", "dagger_every",
                "dagger_episodes", "dagger_beta", "env", "feature_noise", "view_rotation"):
        # a run folder written before a setting existed used its default
        a, b = prev.get("train", {}).get(key, _DEFAULTS.get(key)), now["train"][key]
        if a != b:
            raise NavFusionError(f"{out}: cannot resume with {key}={b!r}; the run used {key}={a!r} "
                                 "(use another --out or --restart)")
