"""Agent checkpoints: an agent's weights as safetensors (with its identity in the metadata) plus a
small training state (optimiser, RNG, data position), on top of :mod:`navfusion.checkpoint`
(atomic files, tensors' sha256, ``weights_only`` states, ``last``/``prev`` rotation).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from navfusion.agents.models import Agent
from navfusion.checkpoint import find_resume as find_pair
from navfusion.checkpoint import load_tensors, read_metadata, save_tensors
from navfusion.checkpoint import save_last as save_pair
from navfusion.errors import NavFusionError

FORMAT = "navfusion-agent/1"

#: What a resumable training state must hold (written by :func:`save_last`).
STATE_KEYS: tuple[str, ...] = ("iteration", "token", "numpy_rng", "torch_rng", "buffer")


def agent_identity(agent: Agent) -> dict[str, str]:
    """What makes two agents checkpoint-compatible (kind, encoders, shapes of the inputs)."""
    return {
        "format": FORMAT,
        "agent_kind": agent.cfg.kind,
        "agent_name": agent.cfg.name,
        "encoders": json.dumps(list(agent.spec.encoders)),
        "feature_shapes": json.dumps([list(s) for s in agent.spec.feature_shapes]),
    }


def _weights(agent: Agent) -> dict[str, torch.Tensor]:
    """The agent's weights and buffers, detached copies (what a checkpoint holds)."""
    return {k: v.detach().contiguous().clone() for k, v in agent.state_dict().items()}


def save_weights(path: str | os.PathLike, agent: Agent, meta: dict[str, Any] | None = None) -> None:
    """Write the agent's weights (and buffers) to a safetensors file atomically, with its identity,
    ``meta`` and the content hash of its tensors in the metadata."""
    save_tensors(path, _weights(agent), {**agent_identity(agent), **{k: str(v) for k, v in (meta or {}).items()}})


def load_weights(path: str | os.PathLike, agent: Agent) -> dict[str, str]:
    """Load weights into ``agent``; a checkpoint of another agent raises a clear error. Returns metadata."""
    path = Path(path)
    md = read_metadata(path)
    if md.get("format") != FORMAT:
        raise NavFusionError(f"{path} is not a navfusion agent checkpoint (format {md.get('format')!r})")
    mine = agent_identity(agent)
    for key in ("agent_kind", "encoders", "feature_shapes"):
        if md.get(key) != mine[key]:
            raise NavFusionError(
                f"checkpoint {path} belongs to a different agent: its {key} is {md.get(key)} "
                f"(agent {md.get('agent_name')!r}), this agent has {mine[key]} (agent {mine['agent_name']!r})"
            )
    sd = load_tensors(path, md)
    try:
        agent.load_state_dict(sd)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "mismatch"
        raise NavFusionError(f"checkpoint {path} does not fit agent {mine['agent_name']!r} "
                             f"(different hyper-parameters?): {first}") from None
    return md


def save_last(folder: Path, agent: Agent, state: dict[str, Any], iteration: int) -> None:
    """Rotate ``last`` -> ``prev`` and write the agent's new ``last`` pair (weights, then state)."""
    save_pair(folder, _weights(agent), agent_identity(agent), state, iteration)


def find_resume(folder: Path) -> tuple[Path, Path] | None:
    """The newest matching (weights, state) pair of a training run's checkpoint folder, or None
    when there is none; unusable checkpoint files are refused with a one-line error."""
    return find_pair(folder, STATE_KEYS, start_over="run again with --restart (or delete those files)")
