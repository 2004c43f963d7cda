"""The registry of agent kinds, encoder resolution and affinity loading.

``create_agent(cfg, spec)`` builds the model for a recipe; ``resolve_encoders(cfg)`` turns the
recipe's ``encoders`` into checked names (unknown names raise with suggestions);
``load_affinity_matrix(cfg, encoders)`` reads the inter-task affinity the regulariser needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from navfusion.agents.config import AgentConfig
from navfusion.agents.models import (
    ActionFusion,
    Agent,
    Concat,
    FeatureFusion,
    InputSpec,
    RandomAgent,
    ResNetAgent,
    SingleExperts,
)
from navfusion.common import suggest
from navfusion.errors import NavFusionError
from navfusion.vision.registry import list_encoders
from navfusion.vision.tasks import TASKS

Builder = Callable[..., Agent]
_AGENTS: dict[str, Builder] = {}


def register_agent(kind: str, builder: Builder, *, overwrite: bool = False) -> Builder:
    """Register ``builder(cfg, spec, affinity=None) -> Agent`` under ``kind``; duplicates raise."""
    if kind in _AGENTS and not overwrite:
        raise NavFusionError(f"agent kind {kind!r} is already registered")
    _AGENTS[kind] = builder
    return builder


def list_agents() -> list[str]:
    """Registered agent kinds."""
    return sorted(_AGENTS)


for _k, _b in (("random", RandomAgent), ("resnet", ResNetAgent), ("concat", Concat),
               ("feature_fusion", FeatureFusion), ("single", SingleExperts), ("single_all", SingleExperts),
               ("action_fusion", ActionFusion), ("action_fusion_affinity", ActionFusion)):
    register_agent(_k, _b)


def create_agent(cfg: AgentConfig, spec: InputSpec, affinity: torch.Tensor | np.ndarray | None = None) -> Agent:
    """Build the model of recipe ``cfg`` for inputs ``spec``.

    ``affinity`` ``(K, K)`` (expert order) is required when the recipe's affinity weight λ > 0.
    """
    if cfg.kind not in _AGENTS:
        raise NavFusionError(f"unknown agent kind {cfg.kind!r}; known: {', '.join(list_agents())}."
                             f"{suggest(cfg.kind, _AGENTS)}")
    if cfg.uses_features and spec.num_experts == 0:
        raise NavFusionError(f"agent {cfg.name!r} ({cfg.kind}) needs at least one encoder")
    if cfg.fusion.affinity_weight > 0 and cfg.kind in ("action_fusion", "action_fusion_affinity", "feature_fusion"):
        if affinity is None:
            raise NavFusionError(f"agent {cfg.name!r}: fusion.affinity_weight > 0 needs an affinity matrix")
        affinity = torch.as_tensor(np.asarray(affinity), dtype=torch.float32)
        k = spec.num_experts
        if tuple(affinity.shape) != (k, k):
            raise NavFusionError(f"agent {cfg.name!r}: affinity has shape {tuple(affinity.shape)}, expected ({k}, {k})")
        return _AGENTS[cfg.kind](cfg, spec, affinity)
    return _AGENTS[cfg.kind](cfg, spec)


def available_encoders() -> list[str]:
    """Every encoder name the vision registry can create."""
    return list(list_encoders())


def default_zoo_encoders() -> list[str]:
    """The default zoo's task encoders (what ``encoders: all`` means), in the task table's order."""
    names = set(available_encoders())
    return [t for t in TASKS if t in names]


def resolve_encoders(cfg: AgentConfig) -> list[str]:
    """The recipe's encoder names (``all`` = the default zoo's tasks); unknown names raise."""
    if not cfg.uses_features:
        return []
    if cfg.encoders == "all":
        names = default_zoo_encoders()
        if not names:
            raise NavFusionError(f"agent {cfg.name!r}: 'encoders: all' but no zoo encoder is available "
                                 "(pretrain one with `navfusion encoders pretrain` or list names explicitly)")
        return names if cfg.kind != "single" else names[:1]
    known = available_encoders()
    for e in cfg.encoders:
        if e not in known:
            raise NavFusionError(f"agent {cfg.name!r}: unknown encoder {e!r}.{suggest(e, known)} "
                                 f"(see `navfusion encoders list`)")
    return list(cfg.encoders)


def load_affinity_matrix(cfg: AgentConfig, encoders: list[str]) -> np.ndarray | None:
    """The ``(K, K)`` affinity in ``encoders`` order, or ``None`` when the recipe does not use one.

    ``fusion.affinity`` is ``"zoo"`` (the default zoo's ``affinity.json``, linear CKA between task
    encoders) or a path to a ``.json`` (``{"names": [...], "matrix": [[...]]}``), a ``.csv`` in the
    zoo's affinity format (header of task names) or a ``.npy`` (K×K, expert order) file.
    """
    if cfg.fusion.affinity_weight <= 0:
        return None
    src = cfg.fusion.affinity
    if src == "zoo" or src.endswith(".csv"):
        from navfusion.vision.affinity import load_affinity
        from navfusion.vision.zoo import DEFAULT_ZOO

        if src.endswith(".csv") and not Path(src).expanduser().is_file():
            raise NavFusionError(f"agent {cfg.name!r}: affinity file not found: {src} (fusion.affinity)")
        try:
            names, a = load_affinity(DEFAULT_ZOO if src == "zoo" else str(Path(src).expanduser()), encoders)
        except NavFusionError as e:
            raise NavFusionError(f"agent {cfg.name!r}: cannot load the affinity ({src}): {e}") from None
        return _reorder(np.asarray(a, np.float64), list(names), encoders, f"affinity {src}")
    path = Path(src).expanduser()
    if not path.is_file():
        raise NavFusionError(f"agent {cfg.name!r}: affinity file not found: {path} (fusion.affinity)")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            names = data.get("names") or data.get("tasks")
            return _reorder(np.asarray(data["matrix"], np.float64), list(names), encoders, str(path))
        a = np.load(path, allow_pickle=False)
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise NavFusionError(f"agent {cfg.name!r}: cannot read affinity file {path}: {e}") from None
    a = np.asarray(a, np.float64)
    if a.shape != (len(encoders), len(encoders)):
        raise NavFusionError(f"affinity file {path}: shape {a.shape}, expected {(len(encoders),) * 2} in expert order")
    return a


def _reorder(a: np.ndarray, names: list[str], encoders: list[str], where: str) -> np.ndarray:
    if a.shape != (len(names), len(names)):
        raise NavFusionError(f"{where}: matrix shape {a.shape} does not match its {len(names)} names")
    base = {n.split("/")[-1]: i for i, n in enumerate(names)}
    idx = []
    for e in encoders:
        key = e if e in names else e.split("/")[-1]
        i = names.index(key) if key in names else base.get(key)
        if i is None:
            raise NavFusionError(f"{where}: no affinity for encoder {e!r}.{suggest(e, names)}")
        idx.append(i)
    return a[np.ix_(idx, idx)]
