"""Dataclass configs that validate early and name the bad field.

``from_dict(SomeConfig, mapping, where="configs/x.yaml")`` rejects unknown keys with a suggestion,
and each config's ``__post_init__`` checks ranges with :func:`check`.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from navfusion.common import suggest
from navfusion.errors import ConfigError, NavFusionError

T = TypeVar("T")


def check(cond: bool, field: str, value: Any, allowed: str) -> None:
    """Raise ``ConfigError("<field>=<value>: must be <allowed>")`` unless ``cond``."""
    if not cond:
        raise ConfigError(f"{field}={value!r}: must be {allowed}")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys raise with suggestions.

    Nested dataclass fields are built recursively. ``where`` names the source in errors.
    """
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        raise ConfigError(
            f"{where}: unknown field {k!r} for {cls.__name__}; allowed: {', '.join(fields)}.{suggest(k, fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        tp = hints.get(name)
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            value = from_dict(tp, value, where=f"{where}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (for logging the fully resolved config)."""
    return dataclasses.asdict(cfg)


def load_yaml(path: str | os.PathLike, what: str = "YAML file") -> dict[str, Any]:
    """Load a YAML mapping with a one-line error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise NavFusionError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        msg = str(e).replace("\n", " ")
        raise NavFusionError(f"{what} {path} is not valid YAML: {msg}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NavFusionError(f"{what} {path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def repo_root() -> Path:
    """The folder holding ``envs/``, ``agents/``, ``configs/`` and ``assets/`` (the source checkout)."""
    return Path(__file__).resolve().parent.parent
