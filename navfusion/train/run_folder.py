"""A ``navfusion train`` run folder: its resolved config, its checkpoints, and the trained agent they hold.

Evaluation wraps what :func:`load_trained` returns (``navfusion.eval.real.RealAgent``); the loading
lives here, with the training code that writes the folder, so eval never imports train.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from navfusion.agents import AgentConfig, load_agent_config, resolve_encoders
from navfusion.agents.models import Agent
from navfusion.errors import NavFusionError
from navfusion.io import read_json
from navfusion.train import checkpoint as ckpt
from navfusion.train.data import NavData, load_split, suite_of_env
from navfusion.train.imitation import build_agent


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


def load_trained(run_dir: str | Path, suite: str | None = None, split: str = "test", max_scenes: int | None = None,
                 cache: dict | None = None) -> tuple[Agent, AgentConfig, NavData]:
    """The trained agent of a run folder (weights loaded), its agent config, and the lookups of
    ``suite``/``split`` (default: its training suite) it reads.

    ``cache`` maps (encoders, resolution, suite, split, max_scenes) to loaded splits, so several runs
    of one reproduction share them.
    """
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
    return agent, ac, data
