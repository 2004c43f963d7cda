"""Top-down map of a world: free space, obstacles, goal nodes, the agent and its path."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from navfusion.nav.world import World

_FREE, _WALK, _OCC, _BG = (235, 235, 235), (190, 190, 190), (60, 60, 60), (255, 255, 255)


def base_map(world: World) -> np.ndarray:
    """(H, W, 3) uint8 map (north up) of the occupancy rasters, one pixel per occupancy cell."""
    key = "topdown_base"
    if key not in world._tables:
        occ = world.graph.occupancy
        img = np.empty((*occ.shape, 3), np.uint8)
        img[:] = _BG
        img[occ.walkable] = _WALK
        img[occ.free] = _FREE
        img[occ.occupied] = _OCC
        world._tables[key] = img
    return world._tables[key]


def topdown_map(world: World, target: str | None = None, path: Sequence[int] = (), agent: int | None = None,
                height: int = 256) -> np.ndarray:
    """(height, W, 3) uint8 top-down map with graph nodes, goal nodes of ``target`` (green), the path
    (blue) and the agent (red), north up."""
    occ = world.graph.occupancy
    img = base_map(world).copy()
    scale = max(1.0, height / img.shape[0])
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)

    def px(nodes) -> np.ndarray:
        r, c = occ.to_cell(world.graph.positions[np.asarray(nodes, np.int64), :2])
        return np.stack([(c + 0.5) * scale, (r + 0.5) * scale], 1).astype(np.int32)

    dot = max(1, int(round(0.06 / occ.resolution * scale)))
    for p in px(np.arange(world.num_nodes)):
        cv2.circle(img, tuple(int(v) for v in p), dot, (150, 150, 150), -1)
    if target is not None and target in world.goals:
        for p in px(world.goals[target].goal_nodes):
            cv2.circle(img, tuple(int(v) for v in p), 2 * dot, (40, 170, 40), -1)
    if len(path) > 1:
        cv2.polylines(img, [px(path).reshape(-1, 1, 2)], False, (40, 80, 220), max(1, dot))
    if agent is not None:
        cv2.circle(img, tuple(int(v) for v in px([agent])[0]), 3 * dot, (220, 30, 30), -1)
    img = img[::-1]  # row 0 is the lowest y: flip so north is up
    if img.shape[0] != height:
        img = cv2.resize(img, (max(1, round(img.shape[1] * height / img.shape[0])), height),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


def views_panel(views: np.ndarray, height: int) -> np.ndarray:
    """The 8 views (8, h, w, 3) as a 2 x 4 grid (E, NE, N, NW / W, SW, S, SE) scaled to ``height``."""
    rows = [np.concatenate(list(views[r * 4:(r + 1) * 4]), axis=1) for r in range(2)]
    grid = np.concatenate(rows, axis=0)
    w = max(1, round(grid.shape[1] * height / grid.shape[0]))
    return cv2.resize(grid, (w, height), interpolation=cv2.INTER_NEAREST if height >= grid.shape[0]
                      else cv2.INTER_AREA)
