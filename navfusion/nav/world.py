"""``World``: everything about one scene the environment, feature store and training need."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from navfusion.common import TARGETS, cache_root
from navfusion.config import check
from navfusion.nav.goals import GoalInfo, goal_infos
from navfusion.nav.graph import OctoGraph, load_graph
from navfusion.nav.views import RendererFactory, ViewStore, load_views
from navfusion.render.camera import Camera
from navfusion.scenes import load_scene
from navfusion.scenes.scene import Scene


@dataclass
class World:
    """One scene, its navigation graph, goals per target category and cached views.

    Attributes:
        scene_id: the scene's id (``<suite>/<split>/<index>`` for suite scenes).
        scene: the scene itself.
        graph: its octagonal graph (N nodes).
        goals: ``GoalInfo`` per reachable target category (categories absent or unreachable are left out).
        views: the ViewStore (``views.rgb`` is (N, 8, H, W, 3) uint8), or None when loaded without views.
        camera: the camera of the views.
        scene_hash: the scene's content hash.
    """

    scene_id: str
    scene: Scene
    graph: OctoGraph
    goals: dict[str, GoalInfo]
    views: ViewStore | None
    camera: Camera
    scene_hash: str
    _tables: dict = field(default_factory=dict, repr=False)

    @property
    def targets(self) -> tuple[str, ...]:
        """Target categories with reachable goals in this scene, in ``TARGETS`` order."""
        return tuple(t for t in TARGETS if t in self.goals)

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    def distance_table(self) -> np.ndarray:
        """(len(TARGETS), N) int32 distances per target index (-1 for targets absent from the scene)."""
        if "dist" not in self._tables:
            d = np.full((len(TARGETS), self.num_nodes), -1, np.int32)
            a = np.full((len(TARGETS), self.num_nodes), 8, np.int8)
            for t, info in self.goals.items():
                d[TARGETS.index(t)] = info.distance
                a[TARGETS.index(t)] = info.oracle_action
            self._tables["dist"], self._tables["oracle"] = d, a
        return self._tables["dist"]

    def oracle_table(self) -> np.ndarray:
        """(len(TARGETS), N) int8 oracle actions per target index (8 for absent targets)."""
        self.distance_table()
        return self._tables["oracle"]


_MEMO: dict[tuple, World] = {}
_MEMO_LOCK = threading.Lock()
#: Worlds kept in memory per process (views are memory-mapped, so this mostly bounds graphs/scenes).
MEMO_SIZE = 64


def load_world(scene: str | Scene, resolution: int = 64, buffers: Sequence[str] = ("rgb",), spacing: float = 0.5,
               agent_radius: float = 0.2, goal_radius: float = 1.0, camera: Camera | None = None,
               backend: str = "auto", views: bool = True, renderer_factory: RendererFactory | None = None,
               progress: bool | None = None) -> World:
    """Load (building and caching whatever is missing) the world of one scene.

    Args:
        scene: a scene id (``"tiny/train/0"``) or a ``Scene``.
        resolution: view width = height in pixels (overridden by ``camera`` if given).
        buffers: view buffers to store: ``rgb`` plus any of ``depth``, ``semantic``, ``normal``.
        spacing, agent_radius: graph settings (metres).
        goal_radius: goal nodes lie within this distance of a target's footprint (metres).
        camera: full camera (default: ``Camera()`` at ``resolution``).
        backend: renderer backend for the views.
        views: False skips the ViewStore (graph and goals only).
        renderer_factory: ``(scene, camera, backend) -> renderer`` override (tests, custom renderers).
        progress: progress bar while rendering views (None: on a terminal only).

    Worlds are memoised per process on all arguments and the cache root, so every environment
    of a process shares one copy.
    """
    check(isinstance(resolution, (int, np.integer)) and 1 <= resolution <= 4096, "resolution", resolution,
          "an integer in 1..4096")
    camera = camera or Camera().with_resolution(int(resolution))
    if isinstance(scene, Scene):
        scene_obj, sid = scene, scene.scene_id
        scene_hash = scene_obj.content_hash()
    else:
        scene_obj, sid, scene_hash = None, str(scene), None
    key = (sid, scene_hash, camera, tuple(sorted(set(buffers))), spacing, agent_radius, goal_radius, backend,
           views, str(cache_root()), id(renderer_factory) if renderer_factory else None)
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None:
        return hit
    if scene_obj is None:
        scene_obj = load_scene(sid)
        scene_hash = scene_obj.content_hash()
    graph = load_graph(scene_obj, spacing=spacing, agent_radius=agent_radius, scene_hash=scene_hash)
    goals = goal_infos(graph, scene_obj, TARGETS, goal_radius)
    store = load_views(scene_obj, graph, camera, buffers, backend, renderer_factory, progress=progress,
                       scene_hash=scene_hash) if views else None
    world = World(sid, scene_obj, graph, goals, store, camera, scene_hash)
    with _MEMO_LOCK:
        if len(_MEMO) >= MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = world
    return world


