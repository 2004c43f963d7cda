"""Conservative occlusion culling by full-height walls, seen from above.

A vertical rectangle that spans floor to ceiling hides everything behind it (seen from a camera
between floor and ceiling) that also lies between floor and ceiling: in the top-down view it is a
2D segment, and visibility becomes a 1D problem over the camera's heading. For each camera
position we build an angular "horizon": per angular bin, the distance beyond which the bin is
certainly hidden (the farthest point, within the bin, of the nearest segment covering the whole
bin). A chunk whose 2D box lies beyond that distance in every bin it spans is culled.

Only rectangles made of whole triangles that exactly tile a floor-to-ceiling quad count as
occluders, and only chunks within a small margin of the floor and ceiling are candidates, so the
test never removes a visible triangle (the backend agreement tests check this against Embree).
"""

from __future__ import annotations

import math

import numpy as np


class WallOcclusion:
    """Occluders of a scene and the per-camera test.

    Args:
        verts: (V, 3) vertices; faces: (F, 3) triangles (the renderer's merged mesh).
        floor, ceiling: the scene's floor and ceiling heights (no culling when the ceiling is not finite).
        bins: angular resolution of the horizon.
    """

    def __init__(self, verts: np.ndarray, faces: np.ndarray, floor: float, ceiling: float, bins: int = 360) -> None:
        self.floor, self.ceiling, self.bins = float(floor), float(ceiling), int(bins)
        self.segments = np.zeros((0, 2, 2))
        # lazily computed on first use (see the methods that fill them)
        self._frame: tuple[np.ndarray, ...] | None = None
        self._dirs: tuple[np.ndarray, np.ndarray] | None = None
        self._rects: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if not math.isfinite(self.ceiling) or self.ceiling <= self.floor or not len(faces):
            return
        tri = np.asarray(verts, np.float64)[faces]  # (F, 3, 3)
        nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area = 0.5 * np.linalg.norm(nrm, axis=1)
        zmin, zmax = tri[:, :, 2].min(1), tri[:, :, 2].max(1)
        eps = 1e-3
        cand = ((np.abs(nrm[:, 2]) <= 1e-6 * np.linalg.norm(nrm, axis=1)) & (area > 1e-8)
                & (zmin <= self.floor + eps) & (zmax >= self.ceiling - eps))
        if not cand.any():
            return
        tri, area, zmin, zmax = tri[cand], area[cand], zmin[cand], zmax[cand]
        xy = tri[:, :, :2]
        # the 2D segment each vertical triangle projects to: extreme points along its direction
        d = xy - xy[:, :1]
        axis = d[np.arange(len(d)), np.argmax(np.linalg.norm(d, axis=2), axis=1)]
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        s = np.einsum("fki,fi->fk", d, axis)
        p0 = xy[np.arange(len(xy)), s.argmin(1)]
        p1 = xy[np.arange(len(xy)), s.argmax(1)]
        key_pts = np.where((p0[:, :1] < p1[:, :1]) | ((p0[:, :1] == p1[:, :1]) & (p0[:, 1:] < p1[:, 1:])),
                           np.concatenate([p0, p1], 1), np.concatenate([p1, p0], 1))
        key = np.round(key_pts * 1e4).astype(np.int64)
        _, group, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
        group = group.reshape(-1)
        garea = np.bincount(group, weights=area)
        gz0 = np.full(len(counts), np.inf)
        gz1 = np.full(len(counts), -np.inf)
        np.minimum.at(gz0, group, zmin)
        np.maximum.at(gz1, group, zmax)
        first = np.zeros(len(counts), np.int64)
        first[group[::-1]] = np.arange(len(group))[::-1]
        seg = key_pts[first].reshape(-1, 2, 2)
        length = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1)
        # the triangles must tile the whole floor-to-ceiling rectangle (area check; no overlaps in meshes)
        full = (counts >= 2) & (np.abs(garea - length * (gz1 - gz0)) <= 1e-3 * np.maximum(garea, 1e-6))
        self.segments = seg[full & (length > 1e-3)]

    @property
    def enabled(self) -> bool:
        return len(self.segments) > 0

    def _segment_frame(self) -> tuple[np.ndarray, ...]:
        """Per segment, what does not depend on the camera: first point (S, 2), normal (S, 2) and
        the normal's length (S,)."""
        if self._frame is None:
            edge = self.segments[:, 1] - self.segments[:, 0]
            nrm = np.stack([-edge[:, 1], edge[:, 0]], 1)
            self._frame = (np.ascontiguousarray(self.segments[:, 0]), nrm, np.linalg.norm(edge, axis=1))
        return self._frame

    def horizon(self, eye: np.ndarray) -> np.ndarray:
        """(bins,) distance beyond which each angular bin is hidden (inf where nothing hides it).
        Bin b spans headings ``[-pi + b*w, -pi + (b+1)*w)``, ``w = 2*pi/bins``."""
        occ = np.full(self.bins, np.inf)
        if not self.enabled:
            return occ
        p = self.segments - eye[None, None, :2]  # (S, 2, 2)
        a = np.arctan2(p[..., 1], p[..., 0])  # (S, 2)
        a0, a1 = a[:, 0], a[:, 1]
        span = (a1 - a0 + math.pi) % (2 * math.pi) - math.pi  # signed, |span| < pi
        start = np.where(span >= 0, a0, a1)
        span = np.abs(span)
        p0, nrm, elen = self._segment_frame()
        c = nrm[:, 0] * (p0[:, 0] - eye[0]) + nrm[:, 1] * (p0[:, 1] - eye[1])  # n . x = c on the segment's line
        w = 2 * math.pi / self.bins
        # bin boundaries j0..j1 lie inside the segment's arc; bins j0..j1-1 are fully covered
        j0 = np.ceil((start + math.pi) / w - 1e-9).astype(np.int64)
        j1 = np.floor((start + span + math.pi) / w + 1e-9).astype(np.int64)
        cnt = np.where(np.abs(c) > 1e-6 * elen, np.maximum(j1 - j0, 0), 0)
        total = int(cnt.sum())
        if not total:
            return occ
        seg = np.repeat(np.arange(len(cnt)), cnt)
        jb = (j0[seg] + (np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt))) % self.bins
        cos, sin = self._boundary_dirs()
        n0, n1, cs = nrm[seg, 0], nrm[seg, 1], c[seg]
        t0 = cs / (n0 * cos[jb] + n1 * sin[jb])
        t1 = cs / (n0 * cos[jb + 1] + n1 * sin[jb + 1])
        far = np.where((t0 > 0) & (t1 > 0), np.maximum(t0, t1), np.inf)  # farthest point within the bin
        np.minimum.at(occ, jb, far)
        return occ

    def _boundary_dirs(self) -> tuple[np.ndarray, np.ndarray]:
        """cos and sin of the bins+1 bin boundary headings."""
        if self._dirs is None:
            th = -math.pi + (2 * math.pi / self.bins) * np.arange(self.bins + 1)
            self._dirs = (np.cos(th), np.sin(th))
        return self._dirs

    def _box_rects(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Footprints (C, 4) float64 ``[x0, y0, x1, y1]`` of chunk boxes and which of them lie between
        floor and ceiling (the only candidates), cached for the renderer's (unchanging) box array."""
        cached = self._rects
        if cached is None or cached[0] is not boxes:
            b = np.asarray(boxes, np.float64)
            margin = 0.5
            cached = self._rects = (boxes, np.concatenate([b[:, 0, :2], b[:, 1, :2]], 1),
                                    (b[:, 0, 2] >= self.floor - margin) & (b[:, 1, 2] <= self.ceiling + margin))
        return cached[1], cached[2]

    def occluded(self, eye: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(C,) bool: chunk boxes (C, 2, 3) certainly hidden from camera position ``eye`` (3,)."""
        C = len(boxes)
        hidden = np.zeros(C, bool)
        if not self.enabled or not (self.floor < eye[2] < self.ceiling) or not C:
            return hidden
        occ = self.horizon(eye)
        near = float(occ.min())
        if not math.isfinite(near):
            return hidden
        rects, between = self._box_rects(boxes)
        # each chunk's footprint is its box's rectangle: exact angular extent (from its corners) and
        # nearest distance; a camera inside a rectangle never culls it
        rel = rects - np.array([eye[0], eye[1], eye[0], eye[1]])  # (C, 4): lo - eye, hi - eye
        gap = np.maximum(np.maximum(rel[:, :2], -rel[:, 2:]), 0.0)
        d = np.hypot(gap[:, 0], gap[:, 1])
        # nearer than every occluder: certainly not hidden
        cand = np.flatnonzero(between & (d > max(1e-3, near)))
        r = rel[cand]
        # corners lo, (hi.x, lo.y), hi, (lo.x, hi.y)
        ang = np.arctan2(r[:, [1, 1, 3, 3]], r[:, [0, 2, 2, 0]])  # (C', 4)
        rel = ang - ang[:, :1]  # headings relative to corner 0, wrapped to [-pi, pi] (span < pi)
        rel -= np.where(rel > math.pi, 2 * math.pi, 0.0)
        rel += np.where(rel < -math.pi, 2 * math.pi, 0.0)
        rmin = rel.min(1)
        start = ang[:, 0] + rmin
        start += np.where(start < -math.pi, 2 * math.pi, 0.0)
        b0, n = _angular_bins(start, rel.max(1) - rmin, self.bins)
        # range maximum of the horizon over each chunk's bins (sparse table over the doubled circle)
        far = _range_max(np.concatenate([occ, occ]), b0, n)
        hidden[cand[far < d[cand]]] = True
        return hidden


def _angular_bins(start: np.ndarray, span: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """First bin and bin count covering headings [start, start + span] (start in [-pi, pi], span >= 0),
    one extra bin each side for rounding."""
    w = 2 * math.pi / bins
    b0 = np.floor((start + math.pi) / w).astype(np.int64) - 1
    b1 = np.floor((start + span + math.pi) / w).astype(np.int64) + 1
    return b0 % bins, np.clip(b1 - b0 + 1, 1, bins)


def _range_max(a: np.ndarray, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """max(a[start:start+count]) for each (start, count), count >= 1, via a sparse table
    (one (L, len(a)) table, two gathers)."""
    if not len(start):
        return np.empty(0)
    L = max(1, int(count.max()).bit_length())
    table = np.full((L, len(a)), -np.inf)
    table[0] = a
    for j in range(1, L):
        k = 1 << (j - 1)
        table[j, : len(a) - k] = np.maximum(table[j - 1, : len(a) - k], table[j - 1, k:])
    lvl = np.frexp(count.astype(np.float64))[1] - 1  # floor(log2(count))
    return np.maximum(table[lvl, start], table[lvl, start + count - (1 << lvl)])
