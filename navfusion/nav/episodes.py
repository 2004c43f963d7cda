"""Episodes: a start node and a target category, with the start's geodesic distance in [6, 32] moves.

Sampling is a pure function of a ``numpy.random.Generator``: pick a target among the scene's
reachable targets that have at least one valid start, then a start node uniformly among the nodes
at a valid distance. Evaluation sets (default 1024 episodes per scene, as in the paper) are written
once as versioned JSON files with a content hash and re-read afterwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from navfusion.cache_layout import episodes_dir
from navfusion.common import MAX_DISTANCE, MIN_DISTANCE, TARGETS
from navfusion.config import check
from navfusion.errors import NavFusionError
from navfusion.io import atomic_write_json, hash_jsonable, read_json
from navfusion.nav.views import graph_hash
from navfusion.nav.world import World

EPISODES_VERSION = 1


@dataclass(frozen=True)
class Episode:
    """One navigation episode.

    Attributes:
        scene_id: the scene.
        start: start node id.
        target: target category name (one of ``TARGETS``).
        distance: geodesic distance (moves) from ``start`` to the nearest goal node.
    """

    scene_id: str
    start: int
    target: str
    distance: int

    @property
    def target_index(self) -> int:
        return TARGETS.index(self.target)


def valid_starts(world: World, target: str, min_distance: int = MIN_DISTANCE,
                 max_distance: int = MAX_DISTANCE) -> np.ndarray:
    """(S,) node ids whose distance to ``target`` lies in [min_distance, max_distance]."""
    key = ("starts", target, min_distance, max_distance)
    if key not in world._tables:
        d = world.goals[target].distance
        world._tables[key] = np.nonzero((d >= min_distance) & (d <= max_distance))[0]
    return world._tables[key]


def episode_targets(world: World, min_distance: int = MIN_DISTANCE, max_distance: int = MAX_DISTANCE
                    ) -> tuple[str, ...]:
    """Targets of ``world`` with at least one valid start, in ``TARGETS`` order."""
    key = ("targets", min_distance, max_distance)
    out = world._tables.get(key)
    if out is None:
        out = tuple(t for t in world.targets if len(valid_starts(world, t, min_distance, max_distance)))
        world._tables[key] = out
    return out


def sample_episode(world: World, rng: np.random.Generator, min_distance: int = MIN_DISTANCE,
                   max_distance: int = MAX_DISTANCE, target: str | None = None) -> Episode:
    """Draw one episode in ``world`` from ``rng`` (target drawn too unless given)."""
    targets = episode_targets(world, min_distance, max_distance)
    if not targets:
        raise NavFusionError(f"scene {world.scene_id}: no target has a start node {min_distance}..{max_distance} "
                             "moves away")
    if target is None:
        target = targets[int(rng.integers(len(targets)))]
    elif target not in targets:
        raise NavFusionError(f"scene {world.scene_id}: target {target!r} has no valid start; "
                             f"available: {', '.join(targets)}")
    starts = valid_starts(world, target, min_distance, max_distance)
    start = int(starts[int(rng.integers(len(starts)))])
    return Episode(world.scene_id, start, target, int(world.goals[target].distance[start]))


def sample_episodes(world: World, count: int, seed: int, min_distance: int = MIN_DISTANCE,
                    max_distance: int = MAX_DISTANCE) -> list[Episode]:
    """``count`` episodes drawn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [sample_episode(world, rng, min_distance, max_distance) for _ in range(count)]


def episodes_path(world: World, count: int, seed: int) -> Path:
    return episodes_dir(world.scene_id) / f"episodes-v{EPISODES_VERSION}-n{count}-s{seed}.json"


def evaluation_episodes(world: World, count: int = 1024, seed: int = 0, min_distance: int = MIN_DISTANCE,
                        max_distance: int = MAX_DISTANCE) -> list[Episode]:
    """The scene's fixed evaluation episodes, read from (or written to) a versioned JSON file.

    The file records the format version, scene and graph hashes, the sampling settings and a sha256
    over the episode list; a file that does not match (stale scene or graph, edited, corrupt) is
    regenerated.
    """
    check(isinstance(count, (int, np.integer)) and count >= 1, "count", count, "a positive integer")
    path = episodes_path(world, count, seed)
    meta = {"version": EPISODES_VERSION, "scene_id": world.scene_id, "scene_hash": world.scene_hash,
            "graph_hash": graph_hash(world.graph), "count": int(count), "seed": int(seed),
            "min_distance": min_distance, "max_distance": max_distance}
    if path.is_file():
        try:
            data = read_json(path, "episode set")
            rows = data["episodes"]
            if all(data.get(k) == v for k, v in meta.items()) and hash_jsonable(rows) == data["content_hash"]:
                return [Episode(world.scene_id, int(r["start"]), str(r["target"]), int(r["distance"])) for r in rows]
        except (NavFusionError, KeyError, TypeError, ValueError):
            pass
    eps = sample_episodes(world, count, seed, min_distance, max_distance)
    rows = [{k: v for k, v in asdict(e).items() if k != "scene_id"} for e in eps]
    atomic_write_json(path, {**meta, "content_hash": hash_jsonable(rows), "episodes": rows})
    return eps
