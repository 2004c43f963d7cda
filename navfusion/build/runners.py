"""Parallel data building on the scene-shard runner: views, features and evaluation episodes, one
task per scene.

The per-scene work is the stores' own (``navfusion.vision.features``' per-scene build,
``navfusion.nav.load_world`` for views); this module only turns scene lists into shards, runs them
on a backend (``serial`` / ``process`` / ``ray``, see :mod:`navfusion.dist.shards`) and checks the
stores' hashes afterwards. Results land in the same stores as a single-process build, byte for
byte: every worker encodes with one torch thread, like the single-process build.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from navfusion.common import cache_root
from navfusion.dist.shards import Shard, run_shards
from navfusion.errors import NavFusionError


def payload_key(payload: tuple) -> str:
    """The scene id of a build payload (its first field)."""
    return str(payload[0])


def feature_job(payload: tuple) -> tuple[str, list[str], list[str]]:
    """One scene's feature build in a worker: ``(scene_id, computed, reused)``."""
    from navfusion.vision.features import _build_one

    return _build_one(payload)


def feature_shards(scene_ids: Sequence[str], zoo: str, encoders: Sequence[str] | None = None,
                   batch_size: int = 256, store_root: str | os.PathLike | None = None,
                   device: str = "cpu") -> list[Shard]:
    """One shard per scene, with the same per-scene payload as ``vision.features.build_features``."""
    from navfusion.vision.features import FeatureStore, zoo_encoders

    encoders = list(encoders) if encoders else zoo_encoders(zoo)
    root = str(store_root) if store_root is not None else str(FeatureStore(zoo).root)
    return [Shard(str(s), (str(s), zoo, encoders, batch_size, str(cache_root()), root, device)) for s in scene_ids]


def verify_features(shards: Sequence[Shard]) -> list[str]:
    """Problems of the built stores: every (scene, encoder) has a manifest entry whose sha256 matches
    its file. Empty when the build is complete and intact."""
    from navfusion.common import scene_slug
    from navfusion.io import sha256_file
    from navfusion.vision.features import FeatureStore, encoder_key

    problems = []
    for s in shards:
        sid, zoo, encoders, _bs, _cache, root, _device = s.payload
        store = FeatureStore(zoo, root)
        slug = scene_slug(sid)
        entries = store.manifest(slug)["encoders"]
        for name in encoders:
            e = entries.get(encoder_key(name))
            f = store.scene_dir(slug) / f"{encoder_key(name)}.npy"
            if e is None or not f.is_file():
                problems.append(f"{sid}: features of {name} missing")
            elif sha256_file(f) != e["sha256"]:
                problems.append(f"{sid}: {f.name} does not match its manifest sha256")
    return problems


def build_features_sharded(scene_ids: Sequence[str], zoo: str, encoders: Sequence[str] | None = None,
                           backend: str = "process", workers: int = 1, batch_size: int = 256,
                           store_root: str | os.PathLike | None = None, max_retries: int = 3,
                           progress: bool = True, ray_address: str | None = None,
                           job: Callable[[tuple], Any] = feature_job) -> dict[str, tuple[list[str], list[str]]]:
    """Build the features of ``scene_ids`` with one task per scene on ``backend``; then check hashes.

    Returns ``{scene_id: (computed, reused)}`` as reported by each scene's last (successful)
    attempt. ``job`` replaces the per-scene function (failure drills wrap it, e.g.
    :class:`navfusion.dist.shards.KillOnce`).
    """
    from tqdm import tqdm

    shards = feature_shards(scene_ids, zoo, encoders, batch_size, store_root)
    bar = tqdm(total=len(shards), desc=f"features {Path(zoo).name} [{backend}]", unit="scene", disable=not progress)

    def done(key: str, res: Any) -> None:
        bar.update(1)

    try:
        res = run_shards(job, shards, backend=backend, workers=workers, max_retries=max_retries, on_result=done,
                         ray_address=ray_address)
    finally:
        bar.close()
    problems = verify_features(shards)
    if problems:
        raise NavFusionError("feature build incomplete: " + "; ".join(problems[:5])
                             + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))
    return {k: (v[1], v[2]) for k, v in res.items()}


def view_job(payload: tuple) -> tuple[str, int]:
    """One scene's views in a worker (rendered once, cached by the ViewStore): ``(scene_id, nodes)``."""
    scene_id, resolution, cache = payload
    if cache:
        os.environ["NAVFUSION_CACHE"] = cache
    from navfusion.nav import load_world

    world = load_world(scene_id, resolution=resolution, progress=False)
    return scene_id, int(world.graph.positions.shape[0])


def build_views_sharded(scene_ids: Sequence[str], resolution: int = 64, backend: str = "process", workers: int = 1,
                        max_retries: int = 3, ray_address: str | None = None) -> dict[str, int]:
    """Render (or find cached) the 8 views of every node of ``scene_ids``, one task per scene.

    Returns ``{scene_id: number of nodes}``. EGL contexts are created inside each worker (never
    inherited: workers are spawned, not forked).
    """
    shards = [Shard(str(s), (str(s), int(resolution), str(cache_root()))) for s in scene_ids]
    res = run_shards(view_job, shards, backend=backend, workers=workers, max_retries=max_retries,
                     ray_address=ray_address)
    return {k: v[1] for k, v in res.items()}


def episodes_job(payload: tuple) -> tuple[str, int]:
    """One scene's fixed evaluation episodes (cached as a hashed JSON file by NAV): ``(scene_id, count)``."""
    scene_id, count, seed, cache = payload
    if cache:
        os.environ["NAVFUSION_CACHE"] = cache
    from navfusion.nav import evaluation_episodes, load_world

    world = load_world(scene_id, views=False, progress=False)
    return scene_id, len(evaluation_episodes(world, count=count, seed=seed))


def build_episodes_sharded(scene_ids: Sequence[str], count: int = 1024, seed: int = 0, backend: str = "process",
                           workers: int = 1, max_retries: int = 3, ray_address: str | None = None) -> dict[str, int]:
    """Generate (or find cached) the fixed evaluation episodes of ``scene_ids``, one task per scene
    (graphs and goal tables are built on the way). Returns ``{scene_id: episodes}``."""
    shards = [Shard(str(s), (str(s), int(count), int(seed), str(cache_root()))) for s in scene_ids]
    res = run_shards(episodes_job, shards, backend=backend, workers=workers, max_retries=max_retries,
                     ray_address=ray_address)
    return {k: v[1] for k, v in res.items()}
