"""Top-down maps of scenes: a height-band raster of the geometry and a labelled matplotlib drawing."""

from __future__ import annotations

import numpy as np

from navfusion.common import CATEGORIES
from navfusion.scenes.scene import Scene

_ROOM_COLORS = {"bedroom": "#e8d8f0", "living_room": "#fde9c8", "kitchen": "#d6ecd2", "office": "#d4e4f4",
                "bathroom": "#d0f0f0", "corridor": "#eeeeee"}


def band_raster(vertices: np.ndarray, faces: np.ndarray, band: tuple[float, float], cell: float,
                origin: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Cells touched by the parts of triangles inside the height band ``band = (z0, z1)``.

    Each triangle is clipped to the band and the xy bounding box of the clipped part is marked, so
    the result is a slight over-approximation (exact for axis-aligned boxes).

    Args:
        vertices: (V, 3) world coordinates; faces: (F, 3) indices.
        cell: cell size in metres; origin: (2,) world xy of the corner of cell (0, 0);
        shape: (nx, ny) grid size (index ``[ix, iy]``).

    Returns:
        (nx, ny) bool.
    """
    grid = np.zeros(shape, bool)
    if len(faces) == 0:
        return grid
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]  # (F, 3, 3)
    z0, z1 = band
    tz = tri[..., 2]
    keep = (tz.max(1) >= z0) & (tz.min(1) <= z1)
    tri = tri[keep]
    if not len(tri):
        return grid
    # candidate points of the clipped polygon: inside vertices + edge/plane intersections
    pts, ok = [tri[:, :, :2]], [(tri[:, :, 2] >= z0) & (tri[:, :, 2] <= z1)]
    for a, b in ((0, 1), (1, 2), (2, 0)):
        pa, pb = tri[:, a], tri[:, b]
        dz = pb[:, 2] - pa[:, 2]
        for zp in (z0, z1):
            with np.errstate(divide="ignore", invalid="ignore"):
                s = (zp - pa[:, 2]) / dz
            valid = np.isfinite(s) & (s >= 0) & (s <= 1)
            p = pa[:, :2] + np.where(valid, s, 0)[:, None] * (pb[:, :2] - pa[:, :2])
            pts.append(p[:, None])
            ok.append(valid[:, None])
    pts = np.concatenate(pts, 1)
    ok = np.concatenate(ok, 1)
    inf = np.where(ok[..., None], pts, np.nan)
    lo = np.nanmin(inf, 1)
    hi = np.nanmax(inf, 1)
    good = np.isfinite(lo).all(1)
    lo, hi = lo[good], hi[good]
    i0 = np.clip(np.floor((lo - origin) / cell).astype(np.int64), 0, np.array(shape) - 1)
    i1 = np.clip(np.floor((hi - origin) / cell).astype(np.int64), 0, np.array(shape) - 1)
    small = ((i1 - i0) <= 1).all(1)
    for dx in (0, 1):
        for dy in (0, 1):
            ix = np.minimum(i0[small, 0] + dx, i1[small, 0])
            iy = np.minimum(i0[small, 1] + dy, i1[small, 1])
            grid[ix, iy] = True
    for (a0, b0), (a1, b1) in zip(i0[~small], i1[~small]):
        grid[a0:a1 + 1, b0:b1 + 1] = True
    return grid


def scene_grid(scene: Scene, cell: float = 0.1, pad: float = 0.5) -> tuple[np.ndarray, tuple[int, int]]:
    """Origin (2,) and shape (nx, ny) of a grid covering the scene's bounds plus ``pad``."""
    b = scene.bounds()
    origin = b[0, :2] - pad
    shape = tuple(int(v) for v in np.ceil((b[1, :2] - b[0, :2] + 2 * pad) / cell).astype(int))
    return origin, shape  # type: ignore[return-value]


def draw_topdown(ax, scene: Scene, labels: bool = True, cell: float = 0.05) -> None:
    """Draw a labelled top-down map of ``scene`` on a matplotlib axis.

    Rooms are filled by type and labelled, walls drawn in black (a height-band raster), objects as
    filled convex outlines in their category colour with the category name at the centre.
    """
    from matplotlib.patches import Polygon
    from scipy.spatial import ConvexHull, QhullError

    origin, shape = scene_grid(scene, cell)
    for room in scene.rooms:
        poly = np.asarray(room.polygon)
        ax.add_patch(Polygon(poly, closed=True, facecolor=_ROOM_COLORS.get(room.type, "#f4f4f4"),
                             edgecolor="none", zorder=0))
        if labels:
            # top-left corner of the room, above the furniture: at the centre a bed or rug hid it
            x0, y1 = poly[:, 0].min() + 0.1, poly[:, 1].max() - 0.1
            ax.text(x0, y1, room.type.replace("_", " "), ha="left", va="top", fontsize=8, color="#333333",
                    zorder=6, style="italic", bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none",
                                                    "pad": 1.0})
    structure = [i for i in scene.instances if i.category == "wall"]
    if structure:
        v = np.concatenate([i.vertices for i in structure])
        offs = np.cumsum([0] + [len(i.vertices) for i in structure[:-1]])
        f = np.concatenate([i.faces + o for i, o in zip(structure, offs)])
        walls = band_raster(v, f, (scene.floor_height + 0.3, scene.floor_height + 1.5), cell, origin, shape)
        rgba = np.zeros(walls.T.shape + (4,))
        rgba[walls.T] = (0.1, 0.1, 0.1, 1.0)
        ext = (origin[0], origin[0] + shape[0] * cell, origin[1], origin[1] + shape[1] * cell)
        ax.imshow(rgba, origin="lower", extent=ext, zorder=3, interpolation="nearest")
    # objects grouped by base name (parts like "bed_0.bedding" join "bed_0")
    groups: dict[str, list] = {}
    for inst in scene.instances:
        if CATEGORIES.get(inst.category) is None or CATEGORIES[inst.category].kind != "object":
            continue
        groups.setdefault(inst.name.split(".")[0], []).append(inst)
    order = sorted(groups.items(), key=lambda kv: kv[1][0].category != "rug")  # rugs first (below)
    for _name, insts in order:
        cat = insts[0].category
        xy = np.concatenate([i.vertices[:, :2] for i in insts]).astype(np.float64)
        if np.concatenate([i.vertices[:, 2] for i in insts]).min() > scene.floor_height + 1.4:
            continue  # ceiling lights, pictures: nothing at walking height
        try:
            hull = xy[ConvexHull(xy).vertices]
        except (QhullError, ValueError):
            continue
        color = np.array(CATEGORIES[cat].color) / 255.0
        ax.add_patch(Polygon(hull, closed=True, facecolor=color, edgecolor="k", linewidth=0.4,
                             alpha=0.45 if cat == "rug" else 0.9, zorder=2 if cat == "rug" else 4))
        if labels and cat not in ("misc", "rug", "lamp"):
            c = hull.mean(0)
            ax.text(c[0], c[1], cat, ha="center", va="center", fontsize=5, zorder=5,
                    fontweight="bold" if cat in ("chair", "table", "bed", "door") else "normal")
    b = scene.bounds()
    ax.set_xlim(b[0, 0] - 0.3, b[1, 0] + 0.3)
    ax.set_ylim(b[0, 1] - 0.3, b[1, 1] + 0.3)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
