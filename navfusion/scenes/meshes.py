"""Low-poly mesh primitives (boxes, cylinders, quads) and rigid transforms.

Every primitive returns ``(vertices (V, 3) float64, faces (F, 3) int64)`` with faces
counter-clockwise seen from outside. Boxes have 12 triangles; cylinders ``4 * segments``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

Mesh = tuple[np.ndarray, np.ndarray]

# Unit cube corners (0/1) and its 12 outward-facing triangles.
_CUBE_V = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=np.float64)
_CUBE_F = np.array([
    [0, 2, 1], [1, 2, 3],  # bottom (-z)
    [4, 5, 6], [5, 7, 6],  # top (+z)
    [0, 1, 4], [1, 5, 4],  # -y
    [2, 6, 3], [3, 6, 7],  # +y
    [0, 4, 2], [2, 4, 6],  # -x
    [1, 3, 5], [3, 7, 5],  # +x
], dtype=np.int64)


def box(lo, hi) -> Mesh:
    """Axis-aligned box between corners ``lo`` and ``hi`` (each (3,))."""
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    return lo + _CUBE_V * (hi - lo), _CUBE_F.copy()


def cbox(cx: float, cy: float, z0: float, w: float, d: float, h: float) -> Mesh:
    """Box centred at ``(cx, cy)`` in x/y, of width ``w`` (x), depth ``d`` (y), from ``z0`` up by ``h``."""
    return box((cx - w / 2, cy - d / 2, z0), (cx + w / 2, cy + d / 2, z0 + h))


def cylinder(cx: float, cy: float, z0: float, radius: float, height: float, segments: int = 8,
             radius_top: float | None = None) -> Mesh:
    """Capped (optionally tapered) cylinder standing on ``z0``; ``4 * segments`` triangles."""
    rt = radius if radius_top is None else radius_top
    a = 2 * math.pi * np.arange(segments) / segments
    ring = np.stack([np.cos(a), np.sin(a)], 1)
    bottom = np.c_[cx + radius * ring[:, 0], cy + radius * ring[:, 1], np.full(segments, z0)]
    top = np.c_[cx + rt * ring[:, 0], cy + rt * ring[:, 1], np.full(segments, z0 + height)]
    v = np.concatenate([bottom, top, [[cx, cy, z0], [cx, cy, z0 + height]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    cb, ct = 2 * segments, 2 * segments + 1
    side1 = np.stack([i, j, i + segments], 1)
    side2 = np.stack([j, j + segments, i + segments], 1)
    cap_b = np.stack([np.full(segments, cb), j, i], 1)
    cap_t = np.stack([np.full(segments, ct), i + segments, j + segments], 1)
    return v, np.concatenate([side1, side2, cap_b, cap_t]).astype(np.int64)


def quad(x0: float, y0: float, x1: float, y1: float, z: float, up: bool = True) -> Mesh:
    """Horizontal rectangle at height ``z`` facing up (floor) or down (ceiling); 2 triangles."""
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3]], np.int64)
    return v, (f if up else f[:, ::-1].copy())


def merge(meshes: Iterable[Mesh]) -> Mesh:
    """Concatenate meshes into one (faces re-indexed)."""
    vs, fs, off = [], [], 0
    for v, f in meshes:
        vs.append(v)
        fs.append(f + off)
        off += len(v)
    if not vs:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    return np.concatenate(vs), np.concatenate(fs)


def transform(mesh: Mesh, yaw: float = 0.0, translate=(0.0, 0.0, 0.0), scale: float = 1.0) -> Mesh:
    """Scale, rotate by ``yaw`` about +z (counter-clockwise from above), then translate."""
    v, f = mesh
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return (v * scale) @ rot.T + np.asarray(translate, np.float64), f


def rotated_extent(w: float, d: float, yaw: float) -> tuple[float, float]:
    """World-axis extent (x, y) of a ``w`` x ``d`` footprint rotated by ``yaw``."""
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    return w * c + d * s, w * s + d * c
