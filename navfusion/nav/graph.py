"""The octagonal navigation graph: a square lattice over free space with 8 moves per node.

Node ``i`` sits at ``positions[i] = (x, y, floor z)``. Move ``k`` (``navfusion.common.MOVE_NAMES``)
points at angle ``k * 45°`` from ``+x``; diagonal moves go to the diagonal lattice neighbour (a step
of ``s·√2``). The edge ``i -> neighbors[i, k]`` exists when the straight segment between the two
nodes keeps a disk agent of ``agent_radius`` clear of all geometry (checked on the inflated
occupancy raster). Only the largest strongly connected component is kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from navfusion.cache_layout import graphs_dir
from navfusion.common import MOVE_NAMES
from navfusion.config import check
from navfusion.errors import NavFusionError
from navfusion.io import atomic_save_npz, hash_arrays, hash_jsonable
from navfusion.nav.occupancy import BAND, OccupancyGrid, detect_floor_height, rasterize_occupancy
from navfusion.scenes.scene import Scene

#: Bump when the graph construction changes: old caches then rebuild.
GRAPH_VERSION = 3
#: (dx, dy) lattice offsets of the 8 moves.
MOVE_OFFSETS: np.ndarray = np.array([(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)],
                                    dtype=np.int64)
assert len(MOVE_OFFSETS) == len(MOVE_NAMES)


@dataclass(frozen=True)
class GraphSettings:
    """How a graph is built (part of its cache key).

    Attributes:
        spacing: lattice spacing in metres.
        agent_radius: radius of the disk agent in metres.
        resolution: occupancy cell size in metres (should be well below ``agent_radius``).
        floor_height: floor z; ``None`` uses the scene's (generated scenes) or detects it from the mesh
            (scenes without a ``floor`` instance).
    """

    spacing: float = 0.5
    agent_radius: float = 0.2
    resolution: float = 0.05
    floor_height: float | None = None

    def __post_init__(self) -> None:
        check(0.05 <= self.spacing <= 5.0, "spacing", self.spacing, "in [0.05, 5] metres")
        check(0.0 <= self.agent_radius <= 2.0, "agent_radius", self.agent_radius, "in [0, 2] metres")
        check(0.005 <= self.resolution <= self.spacing / 2, "resolution", self.resolution,
              "in [0.005, spacing/2] metres")


class OctoGraph:
    """A directed octagonal-lattice graph over a scene's free space.

    Attributes:
        positions: (N, 3) float64 node positions ``(x, y, floor z)``.
        neighbors: (N, 8) int32 target node of move k, ``-1`` where the move is blocked.
        lattice: (N, 2) int64 integer lattice coordinates (``xy = lattice * spacing``).
        occupancy: the rasters the graph was built from.
        settings: the ``GraphSettings`` used.
        scene_hash: content hash of the scene.
    """

    def __init__(self, positions: np.ndarray, neighbors: np.ndarray, lattice: np.ndarray,
                 occupancy: OccupancyGrid, settings: GraphSettings, scene_hash: str) -> None:
        self.positions = np.ascontiguousarray(positions, np.float64)
        self.neighbors = np.ascontiguousarray(neighbors, np.int32)
        self.lattice = np.ascontiguousarray(lattice, np.int64)
        self.occupancy = occupancy
        self.settings = settings
        self.scene_hash = scene_hash

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def num_nodes(self) -> int:
        return len(self.positions)

    @property
    def num_edges(self) -> int:
        return int((self.neighbors >= 0).sum())

    @property
    def spacing(self) -> float:
        return self.settings.spacing

    @property
    def floor_height(self) -> float:
        return self.occupancy.floor_height

    @functools.cached_property
    def nx(self):
        """The graph as a ``networkx.DiGraph``: node attrs ``pos`` (x, y, z); edge attr ``action``."""
        import networkx as nx

        g = nx.DiGraph()
        for i, p in enumerate(self.positions):
            g.add_node(i, pos=tuple(float(c) for c in p))
        src, k = np.nonzero(self.neighbors >= 0)
        g.add_edges_from((int(a), int(self.neighbors[a, b]), {"action": int(b)}) for a, b in zip(src, k))
        return g

    def nearest_node(self, xy: np.ndarray) -> int:
        """Index of the node closest to world point ``xy`` (2,)."""
        d = np.linalg.norm(self.positions[:, :2] - np.asarray(xy, np.float64)[:2], axis=1)
        return int(np.argmin(d))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("nx", None)  # rebuilt on demand
        return state


def build_graph(scene: Scene, spacing: float = 0.5, agent_radius: float = 0.2, resolution: float = 0.05,
                floor_height: float | None = None) -> OctoGraph:
    """Build the octagonal graph of ``scene`` (no caching; see :func:`load_graph`)."""
    settings = GraphSettings(spacing, agent_radius, resolution, floor_height)
    return _build(scene, settings, scene.content_hash())


def resolve_floor_height(scene: Scene, floor_height: float | None) -> float:
    """The floor z used for ``scene``: given; the scene's own when it has a ``floor`` instance or was
    imported (``import_mesh`` sets it, estimated or given); else detected from the mesh."""
    if floor_height is not None:
        return float(floor_height)
    if scene.metadata.get("imported") or any(i.category == "floor" for i in scene.instances):
        return float(scene.floor_height)
    return detect_floor_height(scene)


def _build(scene: Scene, settings: GraphSettings, scene_hash: str) -> OctoGraph:
    floor = resolve_floor_height(scene, settings.floor_height)
    occ = rasterize_occupancy(scene, floor, settings.agent_radius, settings.resolution, BAND)
    s = settings.spacing
    h, w = occ.shape
    lo = np.ceil(occ.origin / s).astype(np.int64)
    hi = np.floor((occ.origin + np.array([w - 1, h - 1]) * occ.resolution) / s).astype(np.int64)
    gx, gy = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="xy")
    lattice = np.stack([gx.ravel(), gy.ravel()], axis=1)  # row-major in y then x: deterministic order
    xy = lattice * s
    keep = occ.lookup(occ.free, xy)
    lattice, xy = lattice[keep], xy[keep]
    if len(lattice) == 0:
        raise NavFusionError(f"scene {scene.scene_id}: no free space for an agent of radius "
                             f"{settings.agent_radius} m at floor z={floor:.3f}")

    # neighbour lookup through a dense index image of the lattice
    span = lattice.max(0) - lattice.min(0) + 3
    base = lattice.min(0) - 1
    index = np.full((span[1], span[0]), -1, np.int64)
    index[lattice[:, 1] - base[1], lattice[:, 0] - base[0]] = np.arange(len(lattice))
    neighbors = np.full((len(lattice), 8), -1, np.int64)
    for k, (dx, dy) in enumerate(MOVE_OFFSETS):
        j = index[lattice[:, 1] - base[1] + dy, lattice[:, 0] - base[0] + dx]
        ok = j >= 0
        clear = occ.segments_clear(xy[ok], xy[j[ok]])
        jj = np.where(ok, j, -1)
        jj[np.nonzero(ok)[0][~clear]] = -1
        neighbors[:, k] = jj

    keep = _largest_scc(neighbors)
    remap = np.full(len(lattice), -1, np.int64)
    remap[keep] = np.arange(len(keep))
    neighbors = neighbors[keep]
    neighbors = np.where(neighbors >= 0, remap[np.maximum(neighbors, 0)], -1)
    lattice = lattice[keep]
    positions = np.concatenate([lattice * s, np.full((len(lattice), 1), floor)], axis=1).astype(np.float64)
    return OctoGraph(positions, neighbors.astype(np.int32), lattice, occ, settings, scene_hash)


def _largest_scc(neighbors: np.ndarray) -> np.ndarray:
    """Sorted node indices of the largest strongly connected component (ties: the lowest index)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(neighbors)
    src, k = np.nonzero(neighbors >= 0)
    adj = csr_matrix((np.ones(len(src), np.int8), (src, neighbors[src, k])), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    sizes = np.bincount(labels)
    best = int(np.argmax(sizes))  # argmax picks the first label reaching the max: deterministic
    return np.nonzero(labels == best)[0]


# ----------------------------------------------------------------------------- cache

def graph_key(scene_hash: str, settings: GraphSettings) -> str:
    """Cache key of a graph: scene content + settings + construction version."""
    return hash_jsonable({"scene": scene_hash, "settings": settings.__dict__, "band": BAND,
                          "version": GRAPH_VERSION})[:20]


def graph_cache_path(scene: Scene, settings: GraphSettings, scene_hash: str | None = None) -> Path:
    key = graph_key(scene_hash or scene.content_hash(), settings)
    return graphs_dir(scene.scene_id) / f"graph-{key}.npz"


def load_graph(scene: Scene, spacing: float = 0.5, agent_radius: float = 0.2, resolution: float = 0.05,
               floor_height: float | None = None, scene_hash: str | None = None, cache: bool = True) -> OctoGraph:
    """The scene's graph from the disk cache, built (and cached atomically) when missing or stale.

    The cache file name holds a key over the scene's content hash and the settings, so a changed
    scene or setting simply misses the cache; the file stores the sha256 of its arrays, so an
    unreadable or modified file (even a valid one) is rebuilt.
    """
    settings = GraphSettings(spacing, agent_radius, resolution, floor_height)
    scene_hash = scene_hash or scene.content_hash()
    if not cache:
        return _build(scene, settings, scene_hash)
    path = graph_cache_path(scene, settings, scene_hash)
    if path.is_file():
        try:
            return _load_npz(path, settings, scene_hash)
        except Exception:  # corrupt, truncated, modified or from before content hashes: rebuild below
            pass
    g = _build(scene, settings, scene_hash)
    o = g.occupancy
    arrays = dict(positions=g.positions, neighbors=g.neighbors, lattice=g.lattice, origin=o.origin,
                  occupied=o.occupied, walkable=o.walkable, free=o.free, height=o.height,
                  meta=np.array([o.resolution, o.floor_height, o.agent_radius]), scene_hash=np.array(scene_hash))
    atomic_save_npz(path, **arrays, content_sha256=np.array(_arrays_sha256(arrays)))
    return g


def _arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """Content hash of a graph file's arrays (names in sorted order, dtypes, shapes, bytes)."""
    keys = sorted(arrays)
    return hash_arrays(*(arrays[k] for k in keys), extra=",".join(keys))


def _load_npz(path: Path, settings: GraphSettings, scene_hash: str) -> OctoGraph:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "content_sha256"}
        if "content_sha256" not in z.files or str(z["content_sha256"]) != _arrays_sha256(arrays):
            raise ValueError("content hash mismatch")
        if str(z["scene_hash"]) != scene_hash:
            raise ValueError("scene hash mismatch")
        res, floor, radius = (float(x) for x in z["meta"])
        occ = OccupancyGrid(origin=z["origin"], resolution=res, occupied=z["occupied"], walkable=z["walkable"],
                            free=z["free"], height=z["height"], floor_height=floor, agent_radius=radius)
        g = OctoGraph(z["positions"], z["neighbors"], z["lattice"], occ, settings, scene_hash)
    n = len(g.positions)
    if g.neighbors.shape != (n, 8) or g.neighbors.max(initial=-1) >= n:
        raise ValueError("inconsistent graph arrays")
    return g
