"""Checkpoints: model weights as safetensors (with the agent's identity in the metadata) plus a
small training state (optimiser, RNG, data position) loadable with ``torch.load(weights_only=True)``.

``last`` is rotated safely: the previous pair becomes ``prev`` before the new pair is written, and
every file carries the same random token as its partner, so a kill at any moment leaves at least
one matching (weights, state) pair to resume from.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from navfusion.agents.models import Agent
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path

FORMAT = "navfusion-agent/1"


def agent_identity(agent: Agent) -> dict[str, str]:
    """What makes two agents checkpoint-compatible (kind, encoders, shapes of the inputs)."""
    return {
        "format": FORMAT,
        "agent_kind": agent.cfg.kind,
        "agent_name": agent.cfg.name,
        "encoders": json.dumps(list(agent.spec.encoders)),
        "feature_shapes": json.dumps([list(s) for s in agent.spec.feature_shapes]),
    }


def tensors_sha256(sd: dict[str, torch.Tensor]) -> str:
    """Content hash of a state dict (names, dtypes, shapes and bytes): safetensors files carry no
    checksum of their own, so flipped bytes would otherwise load silently."""
    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_tensors(path: str | os.PathLike, sd: dict[str, torch.Tensor], md: dict[str, str]) -> None:
    """Refuse a state dict whose bytes differ from the checksum in its metadata (when it has one)
    or that holds NaN/inf."""
    want = md.get("sha256")
    if want is not None and tensors_sha256(sd) != want:
        raise NavFusionError(f"checkpoint {path} is corrupt: its tensors do not match the sha256 recorded "
                             "when it was written")
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise NavFusionError(f"checkpoint {path}: tensor {k!r} holds NaN or inf values")


def save_weights(path: str | os.PathLike, agent: Agent, meta: dict[str, Any] | None = None) -> None:
    """Write the agent's weights (and buffers) to a safetensors file atomically, with the content
    hash of its tensors in the metadata."""
    sd = {k: v.detach().contiguous().clone() for k, v in agent.state_dict().items()}
    md = {**agent_identity(agent), **{k: str(v) for k, v in (meta or {}).items()}, "sha256": tensors_sha256(sd)}
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata=md)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a checkpoint's weight file (raises a one-line error if unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise NavFusionError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise NavFusionError(f"checkpoint {path} is not a readable safetensors file: {e}") from None


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
    try:
        sd = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise NavFusionError(f"checkpoint {path} is not a readable safetensors file: {e}") from None
    check_tensors(path, sd, md)
    try:
        agent.load_state_dict(sd)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "mismatch"
        raise NavFusionError(f"checkpoint {path} does not fit agent {mine['agent_name']!r} "
                             f"(different hyper-parameters?): {first}") from None
    return md


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


#: What a resumable training state must hold (written by ``save_last``).
STATE_KEYS: tuple[str, ...] = ("iteration", "token", "numpy_rng", "torch_rng", "buffer")


def load_state(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A training state (``torch.load(weights_only=True)``: never executes code); ``required`` keys
    that are missing raise a one-line error naming them."""
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NavFusionError(f"training state {path} is unreadable: {first}") from None
    if not isinstance(st, dict):
        raise NavFusionError(f"training state {path} is not a mapping (got {type(st).__name__})")
    missing = [k for k in required if k not in st]
    if missing:
        raise NavFusionError(f"training state {path} lacks {', '.join(missing)}")
    return st


def save_last(folder: Path, agent: Agent, state: dict[str, Any], iteration: int) -> None:
    """Rotate ``last`` → ``prev`` and write the new ``last`` pair (weights, then state)."""
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    for ext in (".state.pt", ".safetensors"):
        src = folder / f"last{ext}"
        if src.exists():
            os.replace(src, folder / f"prev{ext}")
    save_weights(folder / "last.safetensors", agent, {"iteration": iteration, "token": token})
    save_state(folder / "last.state.pt", {**state, "iteration": iteration, "token": token})


def find_resume(folder: Path) -> tuple[Path, Path] | None:
    """The newest matching (weights, state) pair among ``last``/``prev``, or None when there is no
    checkpoint. Checkpoint files of which no readable pair can be formed are refused (starting
    over silently would overwrite them)."""
    pairs, problems = [], []
    for w in ("last", "prev"):
        wp = folder / f"{w}.safetensors"
        if not wp.is_file():
            continue
        try:
            md = read_metadata(wp)
        except NavFusionError:
            continue
        for s in ("last", "prev"):
            sp = folder / f"{s}.state.pt"
            if not sp.is_file():
                continue
            try:
                st = load_state(sp, required=STATE_KEYS)
            except NavFusionError as e:
                problems.append(str(e))
                continue
            if st.get("token") == md.get("token"):
                pairs.append((int(st["iteration"]), wp, sp))
    if not pairs:
        present = [folder / f"{w}{e}" for w in ("last", "prev") for e in (".safetensors", ".state.pt")
                   if (folder / f"{w}{e}").is_file()]
        if present:
            raise NavFusionError(
                f"cannot resume from {folder}: no readable, matching weights/state pair among "
                f"{', '.join(p.name for p in present)}"
                + (f" ({'; '.join(dict.fromkeys(problems))})" if problems else "")
                + "; to start over, run again with --restart (or delete those files)")
        return None
    _, wp, sp = max(pairs, key=lambda p: p[0])
    return wp, sp
