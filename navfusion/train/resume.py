"""Resuming and checkpointing an imitation run folder (``<out>/config.json``, ``<out>/checkpoints/``).

A resumed run restores model, optimiser, every RNG, the state buffer and the iteration, so a
killed run finishes with bit-identical weights; it must be the same agent on the same data with
the same sampling settings (iterations and evaluation settings may change).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from navfusion.agents.models import Agent
from navfusion.checkpoint import load_state, numpy_rng_state, set_numpy_rng_state
from navfusion.errors import NavFusionError
from navfusion.io import atomic_write_json, atomic_write_text
from navfusion.train import checkpoint as ckpt

#: Settings a run folder can only be resumed with unchanged.
SAME_RUN_KEYS: tuple[str, ...] = ("seed", "batch_size", "lr", "initial_states", "min_state_distance",
                                  "dagger_start", "dagger_every", "dagger_episodes", "dagger_beta", "env",
                                  "feature_noise", "view_rotation")


@dataclass
class LoopState:
    """What the imitation loop carries from iteration to iteration and a checkpoint restores.

    Attributes:
        rng: the sampler of batches, DAgger rollouts and augmentations.
        buffer: (N, 3) int64 training states (scene, node, target).
        start: the first iteration still to run.
        best: the best validation success so far (None: not validated yet).
        resumed_from: the checkpoint's iteration when resumed, else None.
    """

    rng: np.random.Generator
    buffer: np.ndarray
    start: int = 0
    best: float | None = None
    resumed_from: int | None = None


def check_same_run(prev: dict[str, Any], now: dict[str, Any], out: Path, defaults: Mapping[str, Any]) -> None:
    """A run folder resumes only the same agent and data; ``defaults``: the training settings'
    defaults, which a run folder written before a setting existed used."""
    if prev.get("agent", {}).get("kind") != now["agent"]["kind"] or prev.get("encoders") != now["encoders"]:
        raise NavFusionError(
            f"{out} holds a run of agent {prev.get('agent', {}).get('name')!r} ({prev.get('agent', {}).get('kind')}, "
            f"{len(prev.get('encoders') or [])} encoders); this is {now['agent']['name']!r} ({now['agent']['kind']}). "
            "Use another --out or --restart."
        )
    for key in SAME_RUN_KEYS:
        a, b = prev.get("train", {}).get(key, defaults.get(key)), now["train"][key]
        if a != b:
            raise NavFusionError(f"{out}: cannot resume with {key}={b!r}; the run used {key}={a!r} "
                                 "(use another --out or --restart)")


def restore(found: tuple[Path, Path], out: Path, resolved: dict[str, Any], defaults: Mapping[str, Any],
            agent: Agent, opt: torch.optim.Optimizer | None, rng: np.random.Generator) -> LoopState:
    """Load the (weights, state) pair ``found`` into ``agent``, ``opt``, ``rng`` and torch's RNG,
    after checking that ``out`` holds a run of the same recipe (``resolved``, see :func:`check_same_run`)."""
    if (out / "config.json").is_file():
        check_same_run(json.loads((out / "config.json").read_text()), resolved, out, defaults)
    ckpt.load_weights(found[0], agent)
    st = load_state(found[1])
    if opt is not None and st.get("optimizer"):
        opt.load_state_dict(st["optimizer"])
    set_numpy_rng_state(rng, st["numpy_rng"])
    torch.set_rng_state(st["torch_rng"])
    best = st.get("best_val")
    best = None if best is None or (isinstance(best, float) and math.isnan(best)) else float(best)
    it = int(st["iteration"])
    return LoopState(rng, st["buffer"].numpy().astype(np.int64), it, best, it)


def write_run_config(out: Path, resolved: dict[str, Any]) -> None:
    """The run's resolved configuration, as ``config.json`` (read when resuming) and ``config.yaml``."""
    atomic_write_json(out / "config.json", resolved)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))


def save_last(ck_dir: Path, agent: Agent, opt: torch.optim.Optimizer | None, state: LoopState, done: int) -> None:
    """Checkpoint ``last`` after ``done`` iterations: weights plus what :func:`restore` reads back."""
    st = {"optimizer": opt.state_dict() if opt is not None else {}, "numpy_rng": numpy_rng_state(state.rng),
          "torch_rng": torch.get_rng_state(), "buffer": torch.from_numpy(state.buffer),
          "best_val": float("nan") if state.best is None else state.best, "agent_name": agent.cfg.name}
    ckpt.save_last(ck_dir, agent, st, done)


def save_best(ck_dir: Path, agent: Agent, iteration: int, val_success: float | None = None) -> None:
    """Checkpoint ``best`` (the weights validation chose; the final ones when there is no validation)."""
    if val_success is None:
        ckpt.save_weights(ck_dir / "best.safetensors", agent, {"iteration": iteration})
        return
    ckpt.save_weights(ck_dir / "best.safetensors", agent, {"iteration": iteration, "val_success": val_success})
    atomic_write_json(ck_dir / "best.json", {"iteration": iteration, "val_success": val_success})


def last_good(ck_dir: Path) -> str:
    """The newest resumable checkpoint and its iteration, for a message ("none yet" without one)."""
    last = ckpt.find_resume(ck_dir)
    return f"{last[0]} (iteration {load_state(last[1])['iteration']})" if last else "none yet"
