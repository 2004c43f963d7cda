"""One scene's build as one typed job: its world (scene, graph, views), its features, its episodes.

A :class:`SceneJob` names everything the build of one scene depends on -- the scene, what to build,
the view resolution, the zoo and encoders, the device, and the cache root -- so it runs the same in
this process, in a spawned worker or on a Ray node: nothing is read from the driver's globals or
environment. :func:`run_job` runs it. Every step is the stores' own and idempotent (files written
atomically, content hashes in manifests): a rerun reuses what is on disk, so a job whose worker
died is simply run again (:mod:`navfusion.build.runners`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from navfusion.cache_layout import features_root
from navfusion.common import cache_root_set_to, scene_slug


@dataclass(frozen=True)
class SceneJob:
    """The build of one scene (picklable; what to build is ``views``, ``encoders`` and ``episodes``).

    Attributes:
        scene_id: the scene (``<suite>/<split>/<index>``, or an imported scene's id).
        cache_root: root of every cache the job reads and writes (scenes, graphs, views, episodes).
        views: load the world (scene, graph, goals) with its views rendered at ``resolution``.
        resolution: view width = height in pixels for ``views``.
        zoo: zoo of the feature encoders (bare task names resolve in it; the FeatureStore namespace).
        encoders: encoder names whose features to build (empty: no features); each at its own
            input size, from views of that size.
        store_root: the FeatureStore's folder (default: the zoo's folder under ``cache_root``).
        batch_size: images per encoder batch.
        device: where encoders run (a resolved device: ``"cpu"``, ``"cuda:0"``, ...).
        episodes: fixed evaluation episodes to generate (0: none), drawn with ``episode_seed``.
        episode_seed: the episodes' seed.
    """

    scene_id: str
    cache_root: str
    views: bool = False
    resolution: int = 64
    zoo: str = ""
    encoders: tuple[str, ...] = ()
    store_root: str | None = None
    batch_size: int = 256
    device: str = "cpu"
    episodes: int = 0
    episode_seed: int = 0

    def feature_store_root(self) -> str:
        """The FeatureStore folder this job writes into."""
        return self.store_root if self.store_root is not None else str(features_root(self.zoo, self.cache_root))


@dataclass(frozen=True)
class SceneResult:
    """What a :class:`SceneJob` did.

    Attributes:
        scene_id: the job's scene.
        nodes: graph nodes (0 when the job loaded no world: features or episodes only).
        computed: encoders whose feature files were (re)computed.
        reused: encoders whose feature files were found intact on disk.
        episodes: evaluation episodes found or generated.
    """

    scene_id: str
    nodes: int = 0
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    episodes: int = 0


def run_job(job: SceneJob) -> SceneResult:
    """Build what ``job`` asks for, under ``job.cache_root``; idempotent (cached work is reused).

    Features are encoded with one torch thread (the single-process build's setting, so every
    backend writes the same bytes); the thread count is left at that.
    """
    import torch

    from navfusion.nav import evaluation_episodes, load_world

    with cache_root_set_to(job.cache_root):
        if job.encoders:
            torch.set_num_threads(1)
        nodes = 0
        if job.views:
            world = load_world(job.scene_id, resolution=job.resolution, progress=False)
            nodes = int(world.graph.positions.shape[0])
        computed: list[str] = []
        reused: list[str] = []
        if job.encoders:
            computed, reused = scene_features(job.scene_id, job.zoo, job.encoders, job.batch_size,
                                              job.feature_store_root(), job.device)
        count = 0
        if job.episodes:
            world = load_world(job.scene_id, views=False, progress=False)
            nodes = nodes or int(world.graph.positions.shape[0])
            count = len(evaluation_episodes(world, count=job.episodes, seed=job.episode_seed))
    return SceneResult(job.scene_id, nodes, computed, reused, count)


def scene_views(scene_id: str, resolution: int) -> np.ndarray:
    """A scene's uint8 views ``(N, 8, S, S, 3)`` at ``S = resolution`` (rendered once, cached)."""
    from navfusion.nav import load_world

    return np.asarray(load_world(scene_id, resolution=resolution).views.rgb)


def scene_features(scene_id: str, zoo: str, encoders: Sequence[str], batch_size: int, store_root: str,
                   device: str) -> tuple[list[str], list[str]]:
    """Build the missing/stale/corrupt feature files of one scene: ``(computed, reused)`` encoders.

    Encoders are grouped by input size; each group reads the scene's views ``(N, 8, S, S, 3)`` at
    its size ``S`` (rendered once, cached). Privileged references (``gt/<task>``) also get the
    world, whose renderer buffers they read. Uses the process's cache root for the views.
    """
    from navfusion.nav import load_world
    from navfusion.vision.features import FeatureStore, resolve_encoder
    from navfusion.vision.references import is_privileged
    from navfusion.vision.registry import create_encoder

    slug = scene_slug(scene_id)
    store = FeatureStore(zoo, store_root)
    by_size: dict[int, list[str]] = {}
    needs_world: set[int] = set()
    for name in encoders:
        enc = create_encoder(resolve_encoder(zoo, name))
        size = int(enc.input_size)
        by_size.setdefault(size, []).append(name)
        if is_privileged(enc):
            needs_world.add(size)
    computed: list[str] = []
    reused: list[str] = []
    for size, names in by_size.items():
        world = load_world(scene_id, resolution=size) if size in needs_world else None
        rgb = np.asarray(world.views.rgb) if world is not None else scene_views(scene_id, size)
        st = store.build_scene(slug, rgb, names, batch_size=batch_size, device=device, world=world)
        computed += st.computed
        reused += st.reused
    return computed, reused
