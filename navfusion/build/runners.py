"""Run scene jobs on a backend, one task per scene: views, features and evaluation episodes.

Each scene's work is a :class:`navfusion.build.jobs.SceneJob` run by
:func:`navfusion.build.jobs.run_job`; this module turns scene lists into jobs, runs them on the
scene-shard runner (``serial`` / ``process`` / ``ray``, see :mod:`navfusion.parallel.shards`) and
checks the stores' hashes afterwards. Results land in the same stores as a single-process build,
byte for byte: every worker encodes with one torch thread, like the single-process build. The
cache root travels in each job (default: this process's :func:`navfusion.common.cache_root`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from navfusion.build.jobs import SceneJob, SceneResult, run_job
from navfusion.common import cache_root
from navfusion.errors import NavFusionError
from navfusion.parallel import shards
from navfusion.parallel.shards import Shard

Root = str | os.PathLike | None


def _root(root: Root) -> str:
    return str(root) if root is not None else str(cache_root())


def payload_key(payload: SceneJob | tuple) -> str:
    """The key of a shard payload: a scene job's scene id, else a tuple payload's first field."""
    return payload.scene_id if isinstance(payload, SceneJob) else str(payload[0])


def run_jobs(jobs: Sequence[SceneJob], backend: str = "serial", workers: int = 1, max_retries: int = 3,
             on_result: Callable[[str, Any], None] | None = None, ray_address: str | None = None,
             job: Callable[[SceneJob], Any] = run_job) -> dict[str, Any]:
    """Run ``job`` (default :func:`run_job`) for every scene job, one shard per scene.

    Returns ``{scene_id: result}``; ``on_result(scene_id, result)`` is called in the driver as each
    finishes. ``job`` replaces the per-scene function (failure drills wrap it, e.g.
    :class:`navfusion.parallel.shards.KillOnce`; callers add per-process set-up around it).
    """
    todo = [Shard(j.scene_id, j) for j in jobs]
    return shards.run_shards(job, todo, backend=backend, workers=workers, max_retries=max_retries,
                             on_result=on_result, ray_address=ray_address)


# ----------------------------------------------------------------------------- features

def feature_job(job: SceneJob) -> tuple[str, list[str], list[str]]:
    """One scene's feature build in a worker: ``(scene_id, computed, reused)``."""
    r = run_job(job)
    return r.scene_id, r.computed, r.reused


def feature_jobs(scene_ids: Sequence[str], zoo: str, encoders: Sequence[str] | None = None,
                 batch_size: int = 256, store_root: Root = None, device: str = "cpu",
                 cache: Root = None) -> list[SceneJob]:
    """One feature job per scene (``encoders`` default: every task of ``zoo``)."""
    from navfusion.vision.features import zoo_encoders

    names = tuple(encoders) if encoders else tuple(zoo_encoders(zoo))
    root = _root(cache)
    return [SceneJob(str(s), root, zoo=zoo, encoders=names, batch_size=batch_size,
                     store_root=None if store_root is None else str(store_root), device=device) for s in scene_ids]


def verify_features(jobs: Sequence[SceneJob]) -> list[str]:
    """Problems of the built stores: every (scene, encoder) has a manifest entry whose sha256 matches
    its file. Empty when the build is complete and intact."""
    from navfusion.common import scene_slug
    from navfusion.io import sha256_file
    from navfusion.vision.features import FeatureStore, encoder_key

    problems = []
    for j in jobs:
        store = FeatureStore(j.zoo, j.feature_store_root())
        slug = scene_slug(j.scene_id)
        entries = store.manifest(slug)["encoders"]
        for name in j.encoders:
            e = entries.get(encoder_key(name))
            f = store.scene_dir(slug) / f"{encoder_key(name)}.npy"
            if e is None or not f.is_file():
                problems.append(f"{j.scene_id}: features of {name} missing")
            elif sha256_file(f) != e["sha256"]:
                problems.append(f"{j.scene_id}: {f.name} does not match its manifest sha256")
    return problems


def build_features(scene_ids: Sequence[str], zoo: str, encoders: Sequence[str] | None = None, workers: int = 1,
                   batch_size: int = 256, progress: bool = True, device: str = "cpu",
                   cache: Root = None) -> dict[str, tuple[list[str], list[str]]]:
    """Build (incrementally) the features of ``scene_ids`` for ``encoders`` (default: every zoo task).

    Scenes are distributed over ``workers`` spawned processes. ``device``: ``"cpu"`` (default),
    ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available, else the CPU); asking for CUDA
    where there is none raises a one-line error before any work. ``cache``: the cache root
    (default: this process's). Returns ``{scene_id: (computed, reused)}``.
    """
    from tqdm import tqdm

    from navfusion.device import resolve_device

    dev = str(resolve_device(device))
    jobs = feature_jobs(scene_ids, zoo, encoders, batch_size, device=dev, cache=cache)
    out: dict[str, tuple[list[str], list[str]]] = {}
    bar = tqdm(total=len(jobs), desc=f"features {Path(zoo).name}", unit="scene", disable=not progress)

    def done(key: str, res: tuple[str, list[str], list[str]]) -> None:
        out[key] = (res[1], res[2])
        bar.update(1)
        bar.set_postfix(computed=sum(len(v[0]) for v in out.values()))

    try:
        run_jobs(jobs, backend="process", workers=workers, on_result=done, job=feature_job)
    finally:
        bar.close()
    return out


def build_features_sharded(scene_ids: Sequence[str], zoo: str, encoders: Sequence[str] | None = None,
                           backend: str = "process", workers: int = 1, batch_size: int = 256,
                           store_root: Root = None, max_retries: int = 3, progress: bool = True,
                           ray_address: str | None = None, job: Callable[[SceneJob], Any] = feature_job,
                           cache: Root = None) -> dict[str, tuple[list[str], list[str]]]:
    """Build the features of ``scene_ids`` with one task per scene on ``backend``; then check hashes.

    Returns ``{scene_id: (computed, reused)}`` as reported by each scene's last (successful)
    attempt. ``job`` replaces the per-scene function (failure drills wrap it, e.g.
    :class:`navfusion.parallel.shards.KillOnce`).
    """
    from tqdm import tqdm

    jobs = feature_jobs(scene_ids, zoo, encoders, batch_size, store_root, cache=cache)
    bar = tqdm(total=len(jobs), desc=f"features {Path(zoo).name} [{backend}]", unit="scene", disable=not progress)

    def done(key: str, res: Any) -> None:
        bar.update(1)

    try:
        res = run_jobs(jobs, backend=backend, workers=workers, max_retries=max_retries, on_result=done,
                       ray_address=ray_address, job=job)
    finally:
        bar.close()
    problems = verify_features(jobs)
    if problems:
        raise NavFusionError("feature build incomplete: " + "; ".join(problems[:5])
                             + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))
    return {k: (v[1], v[2]) for k, v in res.items()}


# ----------------------------------------------------------------------------- views, episodes

def build_views_sharded(scene_ids: Sequence[str], resolution: int = 64, backend: str = "process", workers: int = 1,
                        max_retries: int = 3, ray_address: str | None = None, cache: Root = None) -> dict[str, int]:
    """Render (or find cached) the 8 views of every node of ``scene_ids``, one task per scene.

    Returns ``{scene_id: number of nodes}``. EGL contexts are created inside each worker (never
    inherited: workers are spawned, not forked).
    """
    root = _root(cache)
    jobs = [SceneJob(str(s), root, views=True, resolution=int(resolution)) for s in scene_ids]
    res: dict[str, SceneResult] = run_jobs(jobs, backend=backend, workers=workers, max_retries=max_retries,
                                           ray_address=ray_address)
    return {k: v.nodes for k, v in res.items()}


def build_episodes_sharded(scene_ids: Sequence[str], count: int = 1024, seed: int = 0, backend: str = "process",
                           workers: int = 1, max_retries: int = 3, ray_address: str | None = None,
                           cache: Root = None) -> dict[str, int]:
    """Generate (or find cached) the fixed evaluation episodes of ``scene_ids``, one task per scene
    (graphs and goal tables are built on the way). Returns ``{scene_id: episodes}``."""
    root = _root(cache)
    jobs = [SceneJob(str(s), root, episodes=int(count), episode_seed=int(seed)) for s in scene_ids]
    res: dict[str, SceneResult] = run_jobs(jobs, backend=backend, workers=workers, max_retries=max_retries,
                                           ray_address=ray_address)
    return {k: v.episodes for k, v in res.items()}
