"""2D occupancy of a scene at agent height, rasterised from its triangles.

Every triangle part that lies in the agent's height band ``[floor + 0.1, floor + 1.5]`` m is projected
onto a fine xy grid (``resolution`` metres per cell): that is ``occupied``. Upward-facing triangles at
floor height are ``walkable``. ``free`` cells are walkable cells farther than the agent radius from
any occupied cell, so a disk agent centred on a free cell touches nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from navfusion.errors import NavFusionError
from navfusion.scenes.scene import Scene

#: The agent's body spans this height band above the floor (metres); lower geometry (rugs,
#: thresholds) is stepped over, higher geometry (lamps, shelves overhead) passed under.
BAND = (0.1, 1.5)
_SHIFT = 4  # cv2 fixed-point bits: sub-cell precision for polygon vertices


@dataclass
class OccupancyGrid:
    """Occupancy rasters of one scene.

    Attributes:
        origin: (2,) world xy of the centre of cell (0, 0).
        resolution: cell size in metres.
        occupied: (H, W) bool, geometry in the agent's height band (row = y index, col = x index).
        walkable: (H, W) bool, floor surface below.
        free: (H, W) bool, walkable and at least ``agent_radius`` from every occupied cell.
        height: (H, W) float32, top of the band geometry above the floor in each cell (metres, at
            most the band's top; 0 where unoccupied): a 2.5D map for line-of-sight tests.
        floor_height: z of the floor used.
        agent_radius: inflation radius in metres.
    """

    origin: np.ndarray
    resolution: float
    occupied: np.ndarray
    walkable: np.ndarray
    free: np.ndarray
    height: np.ndarray
    floor_height: float
    agent_radius: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.occupied.shape  # type: ignore[return-value]

    def to_cell(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World xy (..., 2) -> (row, col) integer cell indices (may fall outside the grid)."""
        xy = np.asarray(xy, np.float64)
        col = np.floor((xy[..., 0] - self.origin[0]) / self.resolution + 0.5).astype(np.int64)
        row = np.floor((xy[..., 1] - self.origin[1]) / self.resolution + 0.5).astype(np.int64)
        return row, col

    def lookup(self, grid: np.ndarray, xy: np.ndarray, outside: bool = False) -> np.ndarray:
        """Sample a (H, W) raster at world points (..., 2); points off the grid give ``outside``."""
        row, col = self.to_cell(xy)
        h, w = grid.shape
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        out = np.full(row.shape, outside, dtype=grid.dtype)
        out[inside] = grid[row[inside], col[inside]]
        return out

    def segments_clear(self, p0: np.ndarray, p1: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
        """Whether straight xy segments (..., 2) -> (..., 2) stay on ``grid`` (default ``free``).

        Samples every half cell along each segment, end points included. Returns (...,) bool.
        """
        grid = self.free if grid is None else grid
        p0 = np.asarray(p0, np.float64)
        p1 = np.asarray(p1, np.float64)
        length = float(np.max(np.linalg.norm(p1 - p0, axis=-1), initial=0.0))
        n = max(2, int(math.ceil(length / (0.5 * self.resolution))) + 1)
        t = np.linspace(0.0, 1.0, n)
        pts = p0[..., None, :] + (p1 - p0)[..., None, :] * t[:, None]
        return self.lookup(grid, pts, outside=False).all(axis=-1)


def detect_floor_height(scene: Scene, bin_size: float = 0.05, min_area: float = 1.0) -> float:
    """The z of the lowest large horizontal upward-facing surface of a mesh scene.

    Upward-facing triangles are binned by height (``bin_size`` m); the lowest bin holding at least
    ``min_area`` m² (or 20 % of the largest bin, whichever is smaller) is the floor.
    """
    v, f, _ = scene.merged()
    if len(f) == 0:
        raise NavFusionError(f"scene {scene.scene_id}: no triangles, cannot find the floor")
    tri = v[f].astype(np.float64)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(n, axis=1)
    # faces are counter-clockwise seen from outside, so a floor's walkable side has +z normal
    # (the bottom of a floor slab faces down and is ignored); meshes with flipped winding fall back to |z|
    up = n[:, 2] > 0.95 * np.maximum(area2, 1e-12)
    if not up.any():
        up = np.abs(n[:, 2]) > 0.95 * np.maximum(area2, 1e-12)
    if not up.any():
        raise NavFusionError(f"scene {scene.scene_id}: no horizontal surfaces, cannot find the floor; "
                             "pass floor_height explicitly")
    z = tri[up, :, 2].mean(axis=1)
    area = 0.5 * area2[up]
    bins = np.floor(z / bin_size).astype(np.int64)
    uniq, inv = np.unique(bins, return_inverse=True)
    totals = np.bincount(inv, weights=area)
    need = min(min_area, 0.2 * totals.max())
    k = int(np.nonzero(totals >= need)[0][0])
    return float(np.average(z[inv == k], weights=area[inv == k]))


def _clip_band(tri: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Clip one triangle (3, 3) to the slab lo <= z <= hi (Sutherland-Hodgman); returns (P, 3)."""
    poly = list(tri)
    for sign, bound in ((1.0, lo), (-1.0, hi)):  # keep sign * (z - bound) >= 0
        out = []
        for i in range(len(poly)):
            a, b = poly[i], poly[(i + 1) % len(poly)]
            da, db = sign * (a[2] - bound), sign * (b[2] - bound)
            if da >= 0:
                out.append(a)
            if (da >= 0) != (db >= 0):
                out.append(a + (b - a) * (da / (da - db)))
        poly = out
        if not poly:
            break
    return np.asarray(poly).reshape(-1, 3)


def band_polygons(tri: np.ndarray, lo: float, hi: float) -> list[np.ndarray]:
    """The parts of triangles (F, 3, 3) inside the slab lo <= z <= hi, as polygons (P, 3)."""
    zmin, zmax = tri[:, :, 2].min(1), tri[:, :, 2].max(1)
    inside = (zmin >= lo) & (zmax <= hi)
    crossing = (zmax >= lo) & (zmin <= hi) & ~inside
    polys = list(tri[inside])
    for t in tri[crossing]:
        p = _clip_band(t, lo, hi)
        if len(p):
            polys.append(p)
    return polys


def rasterize_instance(grid: OccupancyGrid, vertices: np.ndarray, faces: np.ndarray,
                       band: tuple[float, float] = BAND) -> np.ndarray:
    """(H, W) bool mask of one mesh's part in the agent's height band, on ``grid``'s raster."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]
    mask = np.zeros(grid.shape, np.uint8)
    if len(tri):
        _draw(mask, band_polygons(tri, grid.floor_height + band[0], grid.floor_height + band[1]),
              grid.origin, grid.resolution)
    return mask.astype(bool)


def _draw(grid: np.ndarray, polys: list[np.ndarray], origin: np.ndarray, res: float, value: float = 1) -> None:
    """Rasterise xy polygons (P, 2) into ``grid`` with ``value``, conservatively (edges drawn too).

    Edges are 4-connected lines, so a sampled sight line or segment cannot slip diagonally between
    the pixels of a thin wall's outline.
    """
    scale = float(1 << _SHIFT) / res
    for p in polys:
        # cell (r, c) centre is origin + (c, r) * res; shift by half a cell so centres map to integers
        pts = np.round((p[:, :2] - origin) * scale).astype(np.int32).reshape(-1, 1, 2)
        if len(pts) >= 3:
            cv2.fillConvexPoly(grid, pts, value, lineType=cv2.LINE_8, shift=_SHIFT)
        cv2.polylines(grid, [pts], True, value, thickness=1, lineType=cv2.LINE_4, shift=_SHIFT)


def rasterize_occupancy(scene: Scene, floor_height: float, agent_radius: float = 0.2,
                        resolution: float = 0.05, band: tuple[float, float] = BAND) -> OccupancyGrid:
    """Occupancy, walkable and free rasters of ``scene`` at ``resolution`` m per cell."""
    v, f, _ = scene.merged()
    tri = v[f].astype(np.float64)
    lo, hi = floor_height + band[0], floor_height + band[1]
    bmin = tri.reshape(-1, 3).min(0)[:2] - 2 * agent_radius - resolution
    bmax = tri.reshape(-1, 3).max(0)[:2] + 2 * agent_radius + resolution
    origin = np.floor(bmin / resolution) * resolution
    w = int(math.ceil((bmax[0] - origin[0]) / resolution)) + 1
    h = int(math.ceil((bmax[1] - origin[1]) / resolution)) + 1
    if w * h > 64_000_000:
        raise NavFusionError(f"scene {scene.scene_id}: {w}x{h} occupancy cells at {resolution} m is too large; "
                             "use a coarser resolution")

    zmin, zmax = tri[:, :, 2].min(1), tri[:, :, 2].max(1)
    occupied = np.zeros((h, w), np.uint8)
    polys = band_polygons(tri, lo, hi)
    _draw(occupied, polys, origin, resolution)
    # 2.5D height map: draw polygons from low to high tops so each cell keeps its highest top
    height = np.zeros((h, w), np.float32)
    tops = [float(p[:, 2].max()) - floor_height for p in polys]
    for k in np.argsort(tops, kind="stable"):
        _draw(height, [polys[k]], origin, resolution, value=tops[k])

    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flat = np.abs(n[:, 2]) > 0.9 * np.maximum(np.linalg.norm(n, axis=1), 1e-12)
    at_floor = (np.abs(zmin - floor_height) <= 0.05) & (np.abs(zmax - floor_height) <= 0.05)
    walkable = np.zeros((h, w), np.uint8)
    _draw(walkable, list(tri[flat & at_floor]), origin, resolution)
    if not walkable.any():
        raise NavFusionError(f"scene {scene.scene_id}: no floor surface at z={floor_height:.3f}; "
                             "pass the right floor_height")

    occ = occupied.astype(bool)
    # distance (in cells) from each cell centre to the nearest occupied cell centre; the extra half
    # cell accounts for occupied cells being squares, not points
    dist = cv2.distanceTransform((~occ).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    free = walkable.astype(bool) & (dist * resolution >= agent_radius + 0.5 * resolution)
    return OccupancyGrid(origin=origin, resolution=float(resolution), occupied=occ,
                         walkable=walkable.astype(bool), free=free, height=height, floor_height=float(floor_height),
                         agent_radius=float(agent_radius))
