"""Multi-room floor plans: rectangular rooms (optionally along a corridor) joined by doors.

A plan is a tiling of the building rectangle by room rectangles. Doors sit on walls two rooms
share; a random spanning tree of the room adjacency graph (plus a few extra doors) guarantees
every room is reachable from every other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Rect:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.w * self.h

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass
class Door:
    """A door on the wall line ``x = c`` (``orient == "v"``) or ``y = c`` (``"h"``), centred at
    ``pos`` along the line, joining rooms ``a`` and ``b``."""

    orient: str
    c: float
    pos: float
    a: int
    b: int
    #: the door's scene instance id, set when the generator builds its frame; -1 before
    instance: int = -1


@dataclass
class Plan:
    rects: list[Rect]
    types: list[str]
    doors: list[Door] = field(default_factory=list)

    @property
    def bounds(self) -> Rect:
        return Rect(min(r.x0 for r in self.rects), min(r.y0 for r in self.rects),
                    max(r.x1 for r in self.rects), max(r.y1 for r in self.rects))


def _split_widths(rng: np.random.Generator, n: int, total: float, smin: float) -> list[float]:
    """``n`` random widths >= ``smin`` summing to ``total``."""
    raw = rng.uniform(0.6, 1.4, n)
    free = total - n * smin
    return list(smin + free * raw / raw.sum())


def _bsp(rng: np.random.Generator, root: Rect, n: int, smin: float) -> list[Rect] | None:
    leaves = [root]
    while len(leaves) < n:
        cands = [r for r in leaves if max(r.w, r.h) >= 2 * smin]
        if not cands:
            return None
        areas = np.array([r.area for r in cands])
        r = cands[int(rng.choice(len(cands), p=areas / areas.sum()))]
        vertical = r.w >= r.h  # split the long side: rooms stay reasonably square
        if r.w >= 2 * smin and r.h >= 2 * smin and rng.random() < 0.2:
            vertical = not vertical
        length = r.w if vertical else r.h
        lo, hi = max(0.3, smin / length), min(0.7, 1 - smin / length)
        t = rng.uniform(lo, hi) if hi > lo else 0.5
        leaves.remove(r)
        if vertical:
            x = round(r.x0 + t * r.w, 2)
            leaves += [Rect(r.x0, r.y0, x, r.y1), Rect(x, r.y0, r.x1, r.y1)]
        else:
            y = round(r.y0 + t * r.h, 2)
            leaves += [Rect(r.x0, r.y0, r.x1, y), Rect(r.x0, y, r.x1, r.y1)]
    return leaves


def _assign_types(rng: np.random.Generator, rects: list[Rect], corridor: set[int]) -> list[str]:
    types = ["corridor" if i in corridor else "" for i in range(len(rects))]
    rooms = sorted((i for i in range(len(rects)) if i not in corridor), key=lambda i: -rects[i].area)
    types[rooms[0]] = "living_room"
    rest = rooms[1:]
    if len(rest) >= 3:  # the smallest room becomes the bathroom
        types[rest.pop()] = "bathroom"
    wanted = ["bedroom", "kitchen"] + [str(rng.choice(["bedroom", "office", "bedroom", "office", "bathroom"]))
                                       for _ in range(max(0, len(rest) - 2))]
    order = rng.permutation(len(rest))
    for k, j in enumerate(order):
        types[rest[int(j)]] = wanted[k]
    return types


def _shared_wall(a: Rect, b: Rect, need: float) -> tuple[str, float, float, float] | None:
    eps = 1e-6
    for orient, ca, cb, lo, hi in (
        ("v", a.x1, b.x0, max(a.y0, b.y0), min(a.y1, b.y1)),
        ("v", b.x1, a.x0, max(a.y0, b.y0), min(a.y1, b.y1)),
        ("h", a.y1, b.y0, max(a.x0, b.x0), min(a.x1, b.x1)),
        ("h", b.y1, a.y0, max(a.x0, b.x0), min(a.x1, b.x1)),
    ):
        if abs(ca - cb) < eps and hi - lo >= need:
            return orient, ca, lo, hi
    return None


def make_plan(rng: np.random.Generator, n_rooms: int, room_size: tuple[float, float], corridor: bool,
              corridor_width: tuple[float, float], door_span: float, extra_door_prob: float) -> Plan | None:
    """A random plan with ``n_rooms`` rooms (a corridor counts as one), or None if this draw failed.

    ``door_span`` is the wall length a door needs (opening, jambs and corner margins).
    """
    smin, smax = room_size
    corr_ids: set[int] = set()
    if corridor and n_rooms >= 3:
        k = n_rooms - 1
        na = (k + 1) // 2
        nb = k - na
        cw = float(rng.uniform(*corridor_width))
        wa = [float(rng.uniform(smin, smax)) for _ in range(na)]
        wb = [float(rng.uniform(smin, smax)) for _ in range(nb)]
        length = max(sum(wa), sum(wb), 2 * smin)
        da, db = float(rng.uniform(smin, smax)), float(rng.uniform(smin, smax))
        rects = [Rect(0.0, da, length, da + cw)]
        corr_ids.add(0)
        for widths, y0, y1 in ((wa, 0.0, da), (wb, da + cw, da + cw + db)):
            if not widths:
                continue
            xs = np.cumsum([0.0] + _split_widths(rng, len(widths), length, min(smin, length / len(widths))))
            xs = np.round(xs, 2)
            xs[-1] = length
            rects += [Rect(float(xs[i]), y0, float(xs[i + 1]), y1) for i in range(len(widths))]
    else:
        side = float(rng.uniform(smin, smax)) * 1.1
        area = n_rooms * side * side
        aspect = float(rng.uniform(1.0, 1.7))
        w, h = np.sqrt(area * aspect), np.sqrt(area / aspect)
        w, h = round(max(w, smin), 2), round(max(h, smin), 2)
        rects = _bsp(rng, Rect(0.0, 0.0, w, h), n_rooms, smin)
        if rects is None:
            return None
    if rng.random() < 0.5:  # transpose: corridors and splits run either way
        rects = [Rect(r.y0, r.x0, r.y1, r.x1) for r in rects]
    types = _assign_types(rng, rects, corr_ids)

    # Doors: random spanning tree over shared walls (corridor edges first), then extra doors.
    edges = []
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            sw = _shared_wall(rects[i], rects[j], door_span)
            if sw is not None:
                weight = rng.random() - (1.0 if (i in corr_ids or j in corr_ids) else 0.0)
                edges.append((weight, i, j, sw))
    edges.sort(key=lambda e: e[0])
    parent = list(range(len(rects)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    doors = []
    for _, i, j, (orient, c, lo, hi) in edges:
        tree = find(i) != find(j)
        if not tree:
            wet = "bathroom" in (types[i], types[j])
            if wet or rng.random() >= extra_door_prob:
                continue
        parent[find(i)] = find(j)
        m = door_span / 2
        pos = round(float(rng.uniform(lo + m, hi - m)) if hi - lo > 2 * m else (lo + hi) / 2, 2)
        doors.append(Door(orient, c, pos, i, j))
    if len({find(i) for i in range(len(rects))}) != 1:
        return None
    return Plan(rects, types, doors)
