"""The encoder registry: ``register_encoder``, ``create_encoder``, ``list_encoders``.

Names resolve, in order, to: encoders registered in this process (``register_encoder``),
built-ins (``random``, ``taskonomy``, ``rgb_thumbnail`` and the privileged ground-truth references
``gt/<task>`` of :mod:`navfusion.vision.references`), third-party encoders advertised through the entry-point
group ``navfusion.encoders`` (loaded lazily, only when created), and zoo encoders: ``<task>`` for
the default zoo (``nf5``) and ``<zoo>/<task>`` for any zoo on the search path
(see :mod:`navfusion.vision.zoo`).

A factory is any callable returning a ``torch.nn.Module`` that maps normalised images
``(N, 3, S, S)`` to features ``(N, C, h, w)`` and has the attributes ``input_size`` (S) and
``output_shape`` (``(C, h, w)``); ``normalization`` (``{"mean", "std"}`` on ``rgb/255``) is optional
and defaults to ``[-1, 1]`` scaling. ``create_encoder`` returns it frozen (eval mode, no grad).

A third-party package registers encoders in its ``pyproject.toml``::

    [project.entry-points."navfusion.encoders"]
    my_encoder = "my_package.encoders:build_my_encoder"
"""

from __future__ import annotations

import fnmatch
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import torch

from navfusion.common import suggest
from navfusion.errors import NavFusionError
from navfusion.vision.encoders import NORMALIZATION, EncoderArch, ZooEncoder
from navfusion.vision.zoo import DEFAULT_ZOO, find_zoo, freeze, list_zoos, load_manifest, load_zoo_encoder

ENTRY_POINT_GROUP = "navfusion.encoders"
Factory = Callable[..., torch.nn.Module]


@dataclass
class _Entry:
    factory: Factory | None
    source: str  # "user", "builtin", "entry-point:<dist>"
    loader: Any = None  # an importlib.metadata.EntryPoint, loaded on first use

    def get(self) -> Factory:
        if self.factory is None:
            try:
                self.factory = self.loader.load()
            except Exception as e:  # a broken plug-in must not take the registry down
                raise NavFusionError(f"encoder plug-in {self.loader.name!r} ({self.loader.value}) failed to "
                                     f"load: {type(e).__name__}: {e}") from None
            if not callable(self.factory):
                raise NavFusionError(f"encoder plug-in {self.loader.name!r} ({self.loader.value}) is not callable")
        return self.factory


_USER: dict[str, _Entry] = {}
_BUILTIN: dict[str, _Entry] = {}
_ENTRY_POINTS: dict[str, _Entry] | None = None


def register_encoder(name: str, factory: Factory, *, overwrite: bool = False) -> Factory:
    """Register ``factory`` under ``name``; a name already taken raises unless ``overwrite``.

    Returns ``factory`` so it can be used as a decorator helper.
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise NavFusionError(f"encoder name {name!r}: must be a non-empty string without spaces")
    if not callable(factory):
        raise NavFusionError(f"encoder {name!r}: factory must be callable, got {type(factory).__name__}")
    if not overwrite and (name in _USER or name in _BUILTIN or name in _entry_points()):
        raise NavFusionError(f"encoder {name!r} is already registered; pass overwrite=True to replace it")
    _USER[name] = _Entry(factory, "user")
    return factory


def unregister_encoder(name: str) -> None:
    """Remove a user-registered encoder (no error if absent)."""
    _USER.pop(name, None)


def _entry_points() -> dict[str, _Entry]:
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        found: dict[str, _Entry] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _BUILTIN or ep.name in found:
                warnings.warn(f"encoder plug-in {ep.name!r} ({ep.value}) ignored: the name is taken", stacklevel=2)
                continue
            dist = getattr(getattr(ep, "dist", None), "name", "?")
            found[ep.name] = _Entry(None, f"entry-point:{dist}", ep)
        _ENTRY_POINTS = found
    return _ENTRY_POINTS


def reload_entry_points() -> None:
    """Forget the cached entry points (after installing a plug-in in a running process)."""
    global _ENTRY_POINTS
    _ENTRY_POINTS = None


def _zoo_names() -> list[str]:
    names: list[str] = []
    for z in list_zoos():
        try:
            tasks = list(load_manifest(z)["tasks"])
        except NavFusionError:
            continue
        if z == DEFAULT_ZOO:
            names += tasks
        names += [f"{z}/{t}" for t in tasks]
    return names


def list_encoders(pattern: str = "*") -> list[str]:
    """Names of every creatable encoder matching the glob ``pattern`` (sorted, no duplicates)."""
    names = set(_USER) | set(_BUILTIN) | set(_entry_points()) | set(_zoo_names())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def _lookup(name: str) -> Factory:
    for table in (_USER, _BUILTIN, _entry_points()):
        if name in table:
            return table[name].get()
    zoo, _, task = name.rpartition("/")
    zoo = zoo or DEFAULT_ZOO
    try:
        tasks = load_manifest(zoo)["tasks"]
    except NavFusionError:
        tasks = {}
    if task in tasks:
        def zoo_factory(verify: bool = True) -> torch.nn.Module:
            return load_zoo_encoder(find_zoo(zoo), task, verify=verify)
        return zoo_factory
    known = list_encoders()
    raise NavFusionError(f"unknown encoder {name!r}.{suggest(name, known)} "
                         f"Known: {', '.join(known[:30])}{' ...' if len(known) > 30 else ''} "
                         "(see `navfusion encoders list`)")


def _check_kwargs(name: str, factory: Factory, kw: dict[str, Any]) -> None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    bad = [k for k in kw if k not in accepted]
    if bad:
        raise NavFusionError(f"encoder {name!r}: unknown argument(s) {', '.join(map(repr, bad))}; "
                             f"accepted: {', '.join(accepted) or 'none'}.{suggest(bad[0], accepted)}")


def create_encoder(name: str, **kw: Any) -> torch.nn.Module:
    """Build encoder ``name`` (frozen: eval mode, no grad).

    Unknown names raise with suggestions; unknown keyword arguments raise before anything is built.
    The result maps ``(N, 3, S, S)`` -> ``(N, C, h, w)`` and has ``input_size``, ``output_shape``,
    ``normalization`` and ``name``.
    """
    factory = _lookup(name)
    _check_kwargs(name, factory, kw)
    enc = factory(**kw)
    if not isinstance(enc, torch.nn.Module):
        raise NavFusionError(f"encoder {name!r}: factory returned {type(enc).__name__}, expected a torch.nn.Module")
    for attr in ("input_size", "output_shape"):
        if not hasattr(enc, attr):
            raise NavFusionError(f"encoder {name!r}: the module lacks the attribute {attr!r} "
                                 "(input_size: int, output_shape: (C, h, w))")
    enc.output_shape = tuple(int(v) for v in enc.output_shape)
    if len(enc.output_shape) != 3:
        raise NavFusionError(f"encoder {name!r}: output_shape {enc.output_shape} must be (C, h, w)")
    if not hasattr(enc, "normalization"):
        enc.normalization = NORMALIZATION
    if not getattr(enc, "name", None):
        enc.name = name
    return freeze(enc)


# ----------------------------------------------------------------------------- built-ins

def _random_encoder(seed: int = 0, input_size: int = 64, out_channels: int = 8, out_size: int = 8,
                    width: int = 16, max_width: int = 64, blocks: int = 1) -> torch.nn.Module:
    """An untrained zoo-architecture encoder (a 'random features' baseline and a test fixture)."""
    arch = EncoderArch(input_size, out_channels, out_size, width, max_width, blocks)
    g = torch.Generator().manual_seed(int(seed))
    enc = ZooEncoder(arch)
    with torch.no_grad():
        for pname, p in enc.named_parameters():
            if p.ndim > 1:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif pname.endswith("bias") and "norm" not in pname:
                p.zero_()  # default bias init would draw from the global RNG
    enc.name = f"random{seed}"
    return enc


def _taskonomy_encoder(weights: str, normalize_outputs: bool = True) -> torch.nn.Module:
    from navfusion.vision.taskonomy import load_taskonomy_encoder

    return load_taskonomy_encoder(weights, normalize_outputs=normalize_outputs)


def _thumbnail_encoder(input_size: int = 64, size: int = 8) -> torch.nn.Module:
    """The view averaged down to ``size`` x ``size`` RGB (the probe's floor)."""
    from navfusion.vision.references import ThumbnailEncoder

    return ThumbnailEncoder(input_size, size)


def _gt_factory(task: str) -> Factory:
    def gt_encoder() -> torch.nn.Module:
        """A privileged ground-truth reference (see ``navfusion.vision.references``)."""
        from navfusion.vision.references import GroundTruthEncoder

        return GroundTruthEncoder(task)
    return gt_encoder


_BUILTIN["random"] = _Entry(_random_encoder, "builtin")
_BUILTIN["taskonomy"] = _Entry(_taskonomy_encoder, "builtin")
_BUILTIN["rgb_thumbnail"] = _Entry(_thumbnail_encoder, "builtin")
# gt/<task>: privileged references, listed but never part of a zoo's task list
for _task in ("depth_zbuffer", "depth_euclidean", "normal", "segment_semantic", "edge_occlusion", "reshading",
              "keypoints3d", "segment_unsup25d", "curvature"):
    _BUILTIN[f"gt/{_task}"] = _Entry(_gt_factory(_task), "builtin")
