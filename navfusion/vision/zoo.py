"""Encoder zoos on disk: ``<zoo dir>/manifest.json`` + one ``<task>.safetensors`` per task.

Zoos are looked up by name in, in order: the folders of ``$NAVFUSION_ZOO_PATH`` (``os.pathsep``
separated), ``cache_root()/encoders`` (where ``navfusion encoders pretrain`` writes) and the shipped
``assets/encoders``. A path to a zoo folder works as a name too.

``manifest.json`` fields: ``zoo``, ``format``, ``architecture`` (``family`` + :class:`EncoderArch`
fields), ``input_size``, ``normalization``, ``output_shape``, ``training`` (the resolved pretraining
config), and ``tasks``: ``{task: {file, sha256, bytes, group, metric, heldout, baseline, beats_baseline}}``.
Weight files are safetensors: loading never executes code, and every file is checked against
its sha256 before use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from navfusion.common import cache_root, suggest
from navfusion.config import repo_root
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path, read_json, sha256_file
from navfusion.vision.encoders import EncoderArch, ZooEncoder

#: The zoo that bare task names (``create_encoder("normal")``) refer to.
DEFAULT_ZOO = "nf5"
MANIFEST = "manifest.json"
AFFINITY = "affinity.json"


def zoo_search_path() -> list[Path]:
    """Folders that hold zoos, highest priority first."""
    dirs = [Path(p).expanduser() for p in os.environ.get("NAVFUSION_ZOO_PATH", "").split(os.pathsep) if p]
    return [*dirs, cache_root() / "encoders", repo_root() / "assets" / "encoders"]


def list_zoos() -> list[str]:
    """Names of all zoos found on the search path."""
    names: list[str] = []
    for d in zoo_search_path():
        if d.is_dir():
            for m in sorted(d.glob(f"*/{MANIFEST}")):
                if m.parent.name not in names:
                    names.append(m.parent.name)
    return names


def find_zoo(name: str | os.PathLike) -> Path:
    """The folder of zoo ``name`` (a zoo name or a path to a zoo folder)."""
    p = Path(name)
    if (p / MANIFEST).is_file():
        return p
    for d in zoo_search_path():
        if (d / str(name) / MANIFEST).is_file():
            return d / str(name)
    known = list_zoos()
    raise NavFusionError(
        f"unknown encoder zoo {str(name)!r}; found: {', '.join(known) or 'none'} "
        f"(searched {', '.join(str(d) for d in zoo_search_path())}).{suggest(str(name), known)}"
        + (f" Build it with `navfusion encoders pretrain --config configs/zoo_{DEFAULT_ZOO}.yaml`."
           if not known else "")
    )


def load_manifest(zoo: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a zoo."""
    d = find_zoo(zoo)
    m = read_json(d / MANIFEST, what="zoo manifest")
    if "tasks" not in m or "architecture" not in m:
        raise NavFusionError(f"zoo manifest {d / MANIFEST} lacks 'tasks' or 'architecture'")
    return m


def arch_from_manifest(manifest: dict[str, Any]) -> EncoderArch:
    fields = {k: v for k, v in manifest["architecture"].items() if k != "family"}
    return EncoderArch(**fields)


def save_weights(path: str | os.PathLike, module: torch.nn.Module, metadata: dict[str, str] | None = None) -> str:
    """Write a module's state dict as safetensors atomically; return the file's sha256."""
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata or {})
    return sha256_file(path)


def load_state(path: str | os.PathLike, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file (never executes code); a sha256 mismatch or bad file raises."""
    path = Path(path)
    if not path.is_file():
        raise NavFusionError(f"weight file not found: {path}")
    if expected_sha256 is not None:
        got = sha256_file(path)
        if got != expected_sha256:
            raise NavFusionError(
                f"weight file {path} is corrupt or was modified: sha256 {got[:12]}... != manifest "
                f"{expected_sha256[:12]}...; restore it (git checkout) or rebuild the zoo")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise NavFusionError(f"weight file {path} is not a valid safetensors file: {e}") from None


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """``load_state_dict(strict=True)`` with one-line errors naming the tensor and expected shape."""
    own = module.state_dict()
    for k, v in own.items():
        if k not in state:
            raise NavFusionError(f"{where}: missing tensor {k!r} (expected shape {tuple(v.shape)})")
        if tuple(state[k].shape) != tuple(v.shape):
            raise NavFusionError(f"{where}: tensor {k!r} has shape {tuple(state[k].shape)}, "
                                 f"expected {tuple(v.shape)}")
    extra = [k for k in state if k not in own]
    if extra:
        raise NavFusionError(f"{where}: unexpected tensor {extra[0]!r} ({len(extra)} unexpected in all); "
                             "is this file for another architecture?")
    module.load_state_dict(state, strict=True)


def load_zoo_encoder(zoo: str | os.PathLike, task: str, verify: bool = True) -> ZooEncoder:
    """The frozen (eval mode, no grad) encoder of ``task`` in ``zoo``; checks its sha256."""
    d = find_zoo(zoo)
    m = load_manifest(d)
    tasks = m["tasks"]
    if task not in tasks:
        raise NavFusionError(f"zoo {d.name!r} has no task {task!r}.{suggest(task, tasks)} "
                             f"Tasks: {', '.join(tasks)}")
    entry = tasks[task]
    state = load_state(d / entry["file"], entry.get("sha256") if verify else None)
    if any(k.startswith("encoder.") for k in state):  # zoo files also hold the pretraining head
        state = {k[8:]: v for k, v in state.items() if k.startswith("encoder.")}
    state = {k: v.float() for k, v in state.items()}
    enc = ZooEncoder(arch_from_manifest(m))
    load_into(enc, state, where=str(d / entry["file"]))
    enc.name = f"{d.name}/{task}"
    enc.weights_sha256 = entry.get("sha256")
    return freeze(enc)


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and ``requires_grad=False`` for every parameter."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def verify_zoo(zoo: str | os.PathLike) -> list[str]:
    """Problems found in a zoo (missing files, sha256 mismatches); empty when it is intact."""
    d = find_zoo(zoo)
    problems = []
    for task, e in load_manifest(d)["tasks"].items():
        f = d / e["file"]
        if not f.is_file():
            problems.append(f"{task}: missing {f}")
        elif sha256_file(f) != e.get("sha256"):
            problems.append(f"{task}: sha256 mismatch for {f}")
    return problems
