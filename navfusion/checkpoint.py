"""Checkpoint files, whatever is being trained: tensors in safetensors files, training states
loadable with ``torch.load(weights_only=True)``, and the ``last``/``prev`` rotation of a
(weights, state) pair.

Every tensor file is written atomically with the sha256 of its tensors in its metadata
(safetensors files carry no checksum of their own), and is refused on load when the bytes no
longer match or a float tensor holds NaN/inf. ``navfusion.train.checkpoint`` (an agent's weights)
and ``navfusion.vision.pretrain`` (a zoo task's encoder + Adam state) build on this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from navfusion.errors import NavFusionError
from navfusion.io import atomic_path

# ----------------------------------------------------------------------------- tensor files


def tensors_sha256(sd: Mapping[str, torch.Tensor]) -> str:
    """Content hash of a state dict (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_tensors(path: str | os.PathLike, sd: Mapping[str, torch.Tensor], md: Mapping[str, str]) -> None:
    """Refuse a state dict whose bytes differ from the checksum in its metadata (when it has one)
    or that holds NaN/inf."""
    want = md.get("sha256")
    if want is not None and tensors_sha256(sd) != want:
        raise NavFusionError(f"checkpoint {path} is corrupt: its tensors do not match the sha256 recorded "
                             "when it was written")
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise NavFusionError(f"checkpoint {path}: tensor {k!r} holds NaN or inf values")


def save_tensors(path: str | os.PathLike, sd: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Write contiguous CPU tensors to a safetensors file atomically; ``metadata`` plus ``sha256``
    (of the tensors) go into its header."""
    md = {**metadata, "sha256": tensors_sha256(sd)}
    with atomic_path(path) as tmp:
        save_file(dict(sd), str(tmp), metadata=md)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a tensor file (raises a one-line error if missing or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise NavFusionError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise NavFusionError(f"checkpoint {path} is not a readable safetensors file: {e}") from None


def load_tensors(path: str | os.PathLike, md: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """The tensors of a file whose metadata ``md`` was read already, checked against it
    (see :func:`check_tensors`)."""
    try:
        sd = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise NavFusionError(f"checkpoint {path} is not a readable safetensors file: {e}") from None
    check_tensors(path, sd, md)
    return sd


# ----------------------------------------------------------------------------- optimiser and RNG state


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str = "opt.") -> dict[str, torch.Tensor]:
    """The per-parameter state of ``opt`` as flat tensors ``<prefix><param index>.<name>`` (for a
    safetensors file; the hyper-parameters come from the optimiser that loads them)."""
    out: dict[str, torch.Tensor] = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous().clone()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                           prefix: str = "opt.") -> None:
    """Restore the per-parameter state written by :func:`optimizer_tensors` into ``opt``."""
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith(prefix):
            i, name = k[len(prefix):].split(".", 1)
            state.setdefault(int(i), {})[name] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def numpy_rng_state(rng: np.random.Generator) -> str:
    """A NumPy generator's state as JSON text (fits a ``weights_only`` training state)."""
    return json.dumps(rng.bit_generator.state)


def set_numpy_rng_state(rng: np.random.Generator, text: str) -> None:
    """Restore a state written by :func:`numpy_rng_state`."""
    rng.bit_generator.state = json.loads(text)


# ----------------------------------------------------------------------------- training states


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training state (tensors, numbers, strings, containers of them) atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | os.PathLike, required: Sequence[str] = ()) -> dict[str, Any]:
    """A training state (``torch.load(weights_only=True)``: never executes code); ``required`` keys
    that are missing raise a one-line error naming them."""
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file; all mean "unreadable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NavFusionError(f"training state {path} is unreadable: {first}") from None
    if not isinstance(st, dict):
        raise NavFusionError(f"training state {path} is not a mapping (got {type(st).__name__})")
    missing = [k for k in required if k not in st]
    if missing:
        raise NavFusionError(f"training state {path} lacks {', '.join(missing)}")
    return st


# ----------------------------------------------------------------------------- last/prev rotation

#: The two generations of a run folder's checkpoint, newest first.
GENERATIONS: tuple[str, str] = ("last", "prev")
WEIGHTS, STATE = ".safetensors", ".state.pt"


def save_last(folder: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
              state: dict[str, Any], iteration: int) -> None:
    """Rotate ``last`` -> ``prev`` and write the new ``last`` pair (weights, then state).

    Both files carry the same random token, so a kill at any moment leaves at least one matching
    (weights, state) pair to resume from (see :func:`find_resume`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    for ext in (STATE, WEIGHTS):
        src = folder / f"last{ext}"
        if src.exists():
            os.replace(src, folder / f"prev{ext}")
    save_tensors(folder / f"last{WEIGHTS}", tensors, {**metadata, "iteration": str(iteration), "token": token})
    save_state(folder / f"last{STATE}", {**state, "iteration": iteration, "token": token})


def find_resume(folder: Path, required: Sequence[str] = ("iteration", "token"),
                start_over: str = "delete those files") -> tuple[Path, Path] | None:
    """The newest matching (weights, state) pair among ``last``/``prev``, or None when there is no
    checkpoint. Checkpoint files of which no readable pair can be formed are refused (starting
    over silently would overwrite them); the message ends with ``to start over, <start_over>``."""
    pairs, problems = [], []
    for w in GENERATIONS:
        wp = folder / f"{w}{WEIGHTS}"
        if not wp.is_file():
            continue
        try:
            md = read_metadata(wp)
        except NavFusionError:
            continue
        for s in GENERATIONS:
            sp = folder / f"{s}{STATE}"
            if not sp.is_file():
                continue
            try:
                st = load_state(sp, required=required)
            except NavFusionError as e:
                problems.append(str(e))
                continue
            if st.get("token") == md.get("token"):
                pairs.append((int(st["iteration"]), wp, sp))
    if not pairs:
        present = [folder / f"{w}{e}" for w in GENERATIONS for e in (WEIGHTS, STATE) if (folder / f"{w}{e}").is_file()]
        if present:
            raise NavFusionError(
                f"cannot resume from {folder}: no readable, matching weights/state pair among "
                f"{', '.join(p.name for p in present)}"
                + (f" ({'; '.join(dict.fromkeys(problems))})" if problems else "")
                + f"; to start over, {start_over}")
        return None
    _, wp, sp = max(pairs, key=lambda p: p[0])
    return wp, sp
