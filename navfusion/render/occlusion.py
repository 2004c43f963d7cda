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

    def horizon(self, eye: np.ndarray) -> np.ndarray:
        """(bins,) distance beyond which each angular bin is hidden (inf where nothing hides it).
        Bin b spans headings ``[-pi + b*w, -pi + (b+1)*w)``, ``w = 2*pi/bins``."""
        occ = np.full(self.bins, np.inf)
        if not self.enabled:
            return occ
        p = self.segments - eye[None, None, :2]  # (S, 2, 2)
        a0 = np.arctan2(p[:, 0, 1], p[:, 0, 0])
        a1 = np.arctan2(p[:, 1, 1], p[:, 1, 0])
        span = (a1 - a0 + math.pi) % (2 * math.pi) - math.pi  # signed, |span| < pi
        start = np.where(span >= 0, a0, a1)
        span = np.abs(span)
        edge = p[:, 1] - p[:, 0]
        nrm = np.stack([-edge[:, 1], edge[:, 0]], 1)
        c = np.einsum("si,si->s", nrm, p[:, 0])  # n . x = c on the segment's line
        w = 2 * math.pi / self.bins
        # bin boundaries j0..j1 lie inside the segment's arc; bins j0..j1-1 are fully covered
        j0 = np.ceil((start + math.pi) / w - 1e-9).astype(np.int64)
        j1 = np.floor((start + span + math.pi) / w + 1e-9).astype(np.int64)
        cnt = np.where(np.abs(c) > 1e-6 * np.linalg.norm(edge, axis=1), np.maximum(j1 - j0, 0), 0)
        if not cnt.sum():
            return occ
        seg = np.repeat(np.arange(len(cnt)), cnt)
        j = j0[seg] + (np.arange(len(seg)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        th0 = -math.pi + w * j
        th1 = th0 + w
        n = nrm[seg]
        t0 = c[seg] / (n[:, 0] * np.cos(th0) + n[:, 1] * np.sin(th0))
        t1 = c[seg] / (n[:, 0] * np.cos(th1) + n[:, 1] * np.sin(th1))
        far = np.where((t0 > 0) & (t1 > 0), np.maximum(t0, t1), np.inf)  # farthest point within the bin
        np.minimum.at(occ, j % self.bins, far)
        return occ

    def occluded(self, eye: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(C,) bool: chunk boxes (C, 2, 3) certainly hidden from camera position ``eye`` (3,)."""
        C = len(boxes)
        hidden = np.zeros(C, bool)
        if not self.enabled or not (self.floor < eye[2] < self.ceiling) or not C:
            return hidden
        occ = self.horizon(eye)
        if not np.isfinite(occ).any():
            return hidden
        margin = 0.5
        cand = (boxes[:, 0, 2] >= self.floor - margin) & (boxes[:, 1, 2] <= self.ceiling + margin)
        # each chunk's footprint is bounded by a circle: angular extent and nearest distance from it
        c = 0.5 * (boxes[:, 0, :2] + boxes[:, 1, :2]) - eye[None, :2]
        r = 0.5 * np.hypot(boxes[:, 1, 0] - boxes[:, 0, 0], boxes[:, 1, 1] - boxes[:, 0, 1])
        d = np.hypot(c[:, 0], c[:, 1])
        cand &= d > r + 1e-3
        half = np.arcsin(np.minimum(r / np.maximum(d, 1e-9), 1.0))
        w = 2 * math.pi / self.bins
        b0 = np.floor((np.arctan2(c[:, 1], c[:, 0]) - half + math.pi) / w).astype(np.int64) % self.bins
        n = np.clip(np.floor(2 * half / w).astype(np.int64) + 2, 1, self.bins)  # + partial bins at both ends
        # range maximum of the horizon over each chunk's bins (sparse table over the doubled circle)
        far = _range_max(np.concatenate([occ, occ]), b0, n)
        return cand & (far < d - r)

    def occluded_faces(self, eye: np.ndarray, tri: np.ndarray) -> np.ndarray:
        """(F,) bool: triangles (F, 3, 3) certainly hidden from camera position ``eye`` (3,).

        Finer than :meth:`occluded` (which bounds a whole chunk by a circle): each triangle's
        top-down footprint gives its exact angular extent and its nearest distance."""
        F = len(tri)
        hidden = np.zeros(F, bool)
        if not self.enabled or not (self.floor < eye[2] < self.ceiling) or not F:
            return hidden
        occ = self.horizon(eye)
        if not np.isfinite(occ).any():
            return hidden
        margin = 0.5
        z = tri[:, :, 2]
        cand = (z.min(1) >= self.floor - margin) & (z.max(1) <= self.ceiling + margin)
        p = tri[:, :, :2] - eye[None, None, :2]  # (F, 3, 2)
        ang = np.arctan2(p[..., 1], p[..., 0])
        rel = (ang - ang[:, :1] + math.pi) % (2 * math.pi) - math.pi  # headings relative to corner 0
        lo = ang[:, 0] + rel.min(1)
        hi = ang[:, 0] + rel.max(1)
        # nearest distance of the footprint: the nearest point of its three edges (0 when the
        # footprint contains the eye, which the span test below also rejects: its span is >= pi)
        a, b = p, np.roll(p, -1, axis=1)
        e = b - a
        t = np.clip(-np.einsum("fki,fki->fk", a, e) / np.maximum(np.einsum("fki,fki->fk", e, e), 1e-18), 0, 1)
        q = a + t[..., None] * e
        dmin = np.sqrt(np.einsum("fki,fki->fk", q, q).min(1))
        cand &= (hi - lo < math.pi - 1e-3) & (dmin > 1e-3)
        span = hi - lo
        lo = (lo + math.pi) % (2 * math.pi) - math.pi
        b0, n = _angular_bins(lo, lo + span, self.bins)
        far = _range_max(np.concatenate([occ, occ]), b0, n)
        return cand & (far < dmin)


def _angular_bins(ang_lo: np.ndarray, ang_hi: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """First bin and bin count covering headings [ang_lo, ang_hi] (ang_lo in [-pi, pi), ang_hi >= ang_lo),
    one extra bin each side for rounding."""
    w = 2 * math.pi / bins
    b0 = np.floor((ang_lo + math.pi) / w).astype(np.int64) - 1
    b1 = np.floor((ang_hi + math.pi) / w).astype(np.int64) + 1
    return b0 % bins, np.clip(b1 - b0 + 1, 1, bins)


def _range_max(a: np.ndarray, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """max(a[start:start+count]) for each (start, count), count >= 1, via a sparse table."""
    levels = [a]
    k = 1
    while 2 * k <= int(count.max()):
        prev = levels[-1]
        levels.append(np.maximum(prev[:-k], prev[k:]))
        k *= 2
    lvl = np.floor(np.log2(count)).astype(np.int64)
    out = np.empty(len(start))
    for j in np.unique(lvl):
        m = lvl == j
        t = levels[j]
        out[m] = np.maximum(t[start[m]], t[start[m] + count[m] - (1 << j)])
    return out
