"""FeatureStore: frozen-encoder features of every node x view of a scene, cached on disk.

Layout (under ``cache_root()/features``)::

    features/<zoo>/<scene slug>/manifest.json
    features/<zoo>/<scene slug>/<encoder key>.npy      float16 (N, 8, C, h, w)

``N`` is the number of graph nodes, 8 the views (view k looks along move k), ``(C, h, w)`` the
encoder's output shape. ``<encoder key>`` is the encoder name with ``/`` and ``:`` replaced by
``__``; encoders are named as in :func:`navfusion.vision.registry.create_encoder`, and a bare
task name means that task's encoder *of this zoo* (``normal`` in zoo ``nf5`` is ``nf5/normal``).

``manifest.json`` holds per encoder: ``file``, ``sha256`` (of the ``.npy``), ``encoder`` (name),
``encoder_sha`` (weights fingerprint), ``views_hash`` (hash of the uint8 views it was computed
from), ``shape``, ``dtype``. A file is *missing* (no entry / no file), *stale* (views or weights
changed) or *corrupt* (sha256 mismatch); ``build`` recomputes exactly those. Every file is written
atomically and the manifest is updated after each file, so a killed build resumes where it
stopped. One process owns one scene folder at a time (builds are parallel across scenes).

Privileged references (``gt/<task>``, :mod:`navfusion.vision.references`) have no weights and read
the renderer's buffers instead of the RGB: ``build_scene(..., world=...)`` renders those buffers at
the views' poses (by the backend of the cached views) and writes the same float16 files and
manifest entries; their ``encoder_sha`` is the reference's mapping fingerprint and ``views_hash`` is
the RGB views' hash as for every encoder, so a re-rendered scene makes them stale too.

Device: encoders run on the CPU by default; ``device="cuda"`` (``--device`` on the command line)
runs them on a GPU. The files are the same either way (float16 ``.npy``, same layout and manifest;
the manifest entry says which device computed it); GPU features equal the CPU's to float
rounding (TF32 off), so a value may differ by one float16 step and a store built on one device is
not rebuilt on the other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from navfusion.cache_layout import features_root
from navfusion.errors import NavFusionError
from navfusion.io import atomic_path, atomic_write_json, hash_arrays, read_json, sha256_file
from navfusion.vision.encoders import encode_rgb
from navfusion.vision.zoo import load_manifest

MANIFEST = "manifest.json"


def encoder_key(name: str) -> str:
    """File-name-safe key of an encoder name."""
    return name.replace("/", "__").replace(":", "__")


def resolve_encoder(zoo: str, name: str) -> str:
    """The registry name of ``name`` within ``zoo``: zoo task names get the ``<zoo>/`` prefix."""
    if "/" in name:
        return name
    try:
        tasks = load_manifest(zoo)["tasks"]
    except NavFusionError:
        tasks = {}
    return f"{zoo}/{name}" if name in tasks else name


def zoo_encoders(zoo: str) -> list[str]:
    """The task names of a zoo, in the canonical task order (``navfusion.vision.tasks.TASKS``)."""
    from navfusion.vision.tasks import TASKS

    names = list(load_manifest(zoo)["tasks"])
    rank = {t: i for i, t in enumerate(TASKS)}
    return sorted(names, key=lambda t: (rank.get(t, len(rank)), t))


def encoder_fingerprint(encoder: torch.nn.Module) -> str:
    """Weights fingerprint: the manifest sha256 of zoo encoders, else a hash of the state dict."""
    sha = getattr(encoder, "weights_sha256", None)
    if sha:
        return str(sha)
    arrays = [v.detach().cpu().float().numpy() for _, v in sorted(encoder.state_dict().items())]
    extra = f"{type(encoder).__qualname__}|{encoder.input_size}|{tuple(encoder.output_shape)}"
    return hash_arrays(*arrays, extra=extra)


def views_hash(rgb: np.ndarray) -> str:
    """Content hash of a scene's uint8 views ``(N, 8, H, W, 3)``."""
    return hash_arrays(rgb)


@dataclass
class BuildStats:
    computed: list[str]
    reused: list[str]


class FeatureStore:
    """Feature files of one zoo namespace (``cache_root()/features/<zoo>`` unless ``root`` is given)."""

    def __init__(self, zoo: str, root: str | os.PathLike | None = None) -> None:
        self.zoo = str(zoo)
        self.root = Path(root) if root is not None else features_root(self.zoo)

    def scene_dir(self, scene_slug: str) -> Path:
        return self.root / scene_slug

    def manifest(self, scene_slug: str) -> dict[str, Any]:
        p = self.scene_dir(scene_slug) / MANIFEST
        if not p.is_file():
            return {"scene": scene_slug, "zoo": self.zoo, "encoders": {}}
        try:
            m = read_json(p, what="feature manifest")
        except NavFusionError:
            return {"scene": scene_slug, "zoo": self.zoo, "encoders": {}}  # a corrupt manifest: rebuild all
        m.setdefault("encoders", {})
        return m

    def status(self, scene_slug: str, name: str, vhash: str, enc_sha: str) -> str:
        """``"ok"``, ``"missing"``, ``"stale"`` or ``"corrupt"`` for one encoder's file."""
        e = self.manifest(scene_slug)["encoders"].get(encoder_key(name))
        f = self.scene_dir(scene_slug) / f"{encoder_key(name)}.npy"
        if e is None or not f.is_file():
            return "missing"
        if e.get("views_hash") != vhash or e.get("encoder_sha") != enc_sha:
            return "stale"
        if sha256_file(f) != e.get("sha256"):
            return "corrupt"
        return "ok"

    def build_scene(self, scene_slug: str, rgb: np.ndarray, encoders: Sequence[str],
                    batch_size: int = 256, on_encoder: Callable[[str, str], None] | None = None,
                    device: str | torch.device = "cpu", world: Any = None,
                    renderer_factory: Callable | None = None) -> BuildStats:
        """Compute the missing/stale/corrupt feature files of one scene.

        Args:
            rgb: uint8 views ``(N, 8, H, W, 3)``.
            encoders: encoder names (bare zoo task names allowed).
            on_encoder: called with ``(name, "computed"|"reused")`` after each encoder.
            device: where the encoders run (a resolved device: ``"cpu"``, ``"cuda:0"``, ...).
            world: the scene's ``nav.World`` at the encoders' input size; needed only by privileged
                references (``gt/<task>``), which render depth/normal/semantic buffers from the
                views' poses (:func:`navfusion.vision.references.encode_world`).
            renderer_factory: the renderer those references use (default: the views' backend).
        """
        from navfusion.vision.references import encode_world, is_privileged
        from navfusion.vision.registry import create_encoder

        if rgb.ndim != 5 or rgb.shape[1] != 8 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise NavFusionError(f"feature build for {scene_slug}: expected uint8 views (N, 8, H, W, 3), "
                                 f"got {rgb.dtype} {rgb.shape}")
        vhash = views_hash(rgb)
        stats = BuildStats([], [])
        flat = rgb.reshape(-1, *rgb.shape[2:])
        privileged: list[tuple[str, str, torch.nn.Module, str]] = []
        for name in encoders:
            full = resolve_encoder(self.zoo, name)
            enc = create_encoder(full)
            esha = encoder_fingerprint(enc)
            if self.status(scene_slug, name, vhash, esha) == "ok":
                stats.reused.append(name)
                if on_encoder:
                    on_encoder(name, "reused")
                continue
            if is_privileged(enc):  # rendered together below: one pass over the poses for all of them
                privileged.append((name, full, enc, esha))
                continue
            feats = encode_rgb(enc, flat, batch_size=batch_size, device=device)
            self._write(scene_slug, name, full, esha, vhash, feats.reshape(rgb.shape[0], 8, *feats.shape[1:]), device)
            stats.computed.append(name)
            if on_encoder:
                on_encoder(name, "computed")
        if privileged:
            if world is None or world.graph.num_nodes != rgb.shape[0]:
                names = ", ".join(p[0] for p in privileged)
                raise NavFusionError(f"feature build for {scene_slug}: {names} read renderer buffers and need the "
                                     "scene's world (build_scene(..., world=load_world(scene_id, resolution=64)))")
            feats_all = encode_world(world, [p[2] for p in privileged], batch_size=batch_size,
                                     renderer_factory=renderer_factory)
            for (name, full, _, esha), feats in zip(privileged, feats_all):
                self._write(scene_slug, name, full, esha, vhash, feats, "cpu")
                stats.computed.append(name)
                if on_encoder:
                    on_encoder(name, "computed")
        return stats

    def _write(self, scene_slug: str, name: str, full: str, esha: str, vhash: str, feats: np.ndarray,
               device: str | torch.device) -> None:
        """Write one encoder's float16 ``(N, 8, C, h, w)`` file, then its manifest entry (atomically)."""
        d = self.scene_dir(scene_slug)
        feats = feats.astype(np.float16)
        f = d / f"{encoder_key(name)}.npy"
        with atomic_path(f) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feats)
        m = self.manifest(scene_slug)
        m.update(scene=scene_slug, zoo=self.zoo, num_nodes=int(feats.shape[0]))
        m["encoders"][encoder_key(name)] = {"file": f.name, "sha256": sha256_file(f), "encoder": full,
                                            "encoder_sha": esha, "views_hash": vhash, "shape": list(feats.shape),
                                            "dtype": "float16", "device": str(device)}
        atomic_write_json(d / MANIFEST, m)

    def load(self, scene_slug: str, encoders: Sequence[str], verify: bool = True,
             vhash: str | None = None) -> np.ndarray:
        """Stacked features float16 ``(N, K, 8, C, h, w)`` of ``encoders`` (same output shape).

        ``verify`` checks each file's sha256 (and ``vhash``, when given, against the manifest);
        anything missing, stale or corrupt raises with the command that rebuilds it.
        """
        m = self.manifest(scene_slug)
        arrays = []
        for name in encoders:
            key = encoder_key(name)
            e = m["encoders"].get(key)
            f = self.scene_dir(scene_slug) / f"{key}.npy"
            hint = f"run `navfusion features build --zoo {self.zoo} ...` for it"
            if e is None or not f.is_file():
                raise NavFusionError(f"features of encoder {name!r} for scene {scene_slug} are missing in "
                                     f"{self.scene_dir(scene_slug)}; {hint}")
            if verify and sha256_file(f) != e["sha256"]:
                raise NavFusionError(f"feature file {f} is corrupt (sha256 mismatch); {hint}")
            if vhash is not None and e["views_hash"] != vhash:
                raise NavFusionError(f"feature file {f} is stale (the views changed); {hint}")
            arrays.append(np.load(f, allow_pickle=False))
        shapes = {a.shape[2:] for a in arrays}
        if len(shapes) > 1:
            detail = ", ".join(f"{n}: {a.shape[2:]}" for n, a in zip(encoders, arrays))
            raise NavFusionError(f"encoders have different output shapes ({detail}); a feature observation "
                                 "stacks encoders of one (C, h, w) -- select a subset with encoders=[...]")
        return np.stack(arrays, axis=1)
