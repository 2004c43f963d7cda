"""The procedural scene generator: ``generate_scene(config, seed) -> Scene``.

A pure function of its arguments: every random choice comes from one
``numpy.random.Generator(seed)``. Steps: floor plan (rooms, corridor, doors) -> walls with door
openings, skirting, windows, floors and ceilings -> furniture per room type, placed on a 0.1 m
occupancy grid that keeps door zones clear and checks after every item that the walkable space
(at the configured clearance) stays connected and every target stays reachable.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from navfusion.common import DISTRACTORS, TARGETS
from navfusion.config import check
from navfusion.errors import NavFusionError
from navfusion.scenes import furniture as F
from navfusion.scenes.floorplan import Plan, Rect, make_plan
from navfusion.scenes.materials import make_material
from navfusion.scenes.meshes import Mesh, box, cylinder, merge, quad, rotated_extent, transform
from navfusion.scenes.scene import Instance, Material, Room, Scene

GENERATOR_VERSION = "navfusion.procedural/1"
_CELL = 0.1
_JAMB = 0.05


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of the procedural generator (lengths in metres).

    Attributes:
        rooms: (min, max) number of rooms per scene, a corridor counting as a room; within 2..8.
        room_size: (min, max) side length of a room.
        corridor_prob: probability that a scene with >= 3 rooms is laid out along a corridor.
        corridor_width: (min, max) width of corridors (narrow: ~1.2 m).
        clutter: probability that a room is "cluttered" (many items) rather than "open".
        furniture_density: multiplier on the number of optional items per square metre.
        wall_height: (min, max) floor-to-ceiling height.
        wall_thickness: thickness of interior walls.
        door_width: clear width of door openings (>= 2 * agent radius + graph spacing keeps every
            door passable on the navigation graph).
        door_height: height of door openings.
        extra_door_prob: probability of a door on a shared wall beyond the spanning tree (loops).
        door_leaf_prob: probability that a door has an open leaf (else only a frame).
        window_prob: probability of a window on each exterior wall of a room.
        clearance: radius used when checking that walkable space stays connected while furnishing.
        agent_radius: no pocket an agent of this radius fits in may be sealed off by furniture.
        max_tries: placement attempts per item.
        min_triangles: decorate (pictures, ceiling lights, small items) until the scene has at least
            this many triangles; 0 adds only the usual decoration.
    """

    rooms: tuple[int, int] = (3, 6)
    room_size: tuple[float, float] = (2.6, 6.0)
    corridor_prob: float = 0.5
    corridor_width: tuple[float, float] = (1.2, 1.6)
    clutter: float = 0.5
    furniture_density: float = 1.0
    wall_height: tuple[float, float] = (2.6, 3.0)
    wall_thickness: float = 0.1
    door_width: float = 1.0
    door_height: float = 2.1
    extra_door_prob: float = 0.3
    door_leaf_prob: float = 0.6
    window_prob: float = 0.6
    clearance: float = 0.35
    agent_radius: float = 0.2
    max_tries: int = 25
    min_triangles: int = 0

    def __post_init__(self) -> None:
        for name in ("rooms", "room_size", "corridor_width", "wall_height"):
            v = getattr(self, name)
            check(isinstance(v, (tuple, list)) and len(v) == 2, name, v, "a pair [min, max]")
            object.__setattr__(self, name, tuple(v))
        lo, hi = self.rooms
        check(all(isinstance(x, (int, np.integer)) for x in self.rooms) and 2 <= lo <= hi <= 8, "rooms", self.rooms,
              "integers 2 <= min <= max <= 8")
        check(2.4 <= self.room_size[0] <= self.room_size[1] <= 12.0, "room_size", self.room_size,
              "2.4 <= min <= max <= 12")
        check(1.1 <= self.corridor_width[0] <= self.corridor_width[1] <= 3.0, "corridor_width",
              self.corridor_width, "1.1 <= min <= max <= 3")
        check(2.3 <= self.wall_height[0] <= self.wall_height[1] <= 4.0, "wall_height", self.wall_height,
              "2.3 <= min <= max <= 4")
        for name in ("corridor_prob", "clutter", "extra_door_prob", "door_leaf_prob", "window_prob"):
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and 0.0 <= v <= 1.0, name, v, "a probability in [0, 1]")
        check(0.0 <= self.furniture_density <= 4.0, "furniture_density", self.furniture_density, "in [0, 4]")
        check(0.04 <= self.wall_thickness <= 0.4, "wall_thickness", self.wall_thickness, "in [0.04, 0.4]")
        check(0.8 <= self.door_width <= 2.0, "door_width", self.door_width, "in [0.8, 2.0]")
        check(1.9 <= self.door_height < self.wall_height[0], "door_height", self.door_height,
              "at least 1.9 and below wall_height[0]")
        check(0.1 <= self.clearance <= 0.6, "clearance", self.clearance, "in [0.1, 0.6]")
        check(0.05 <= self.agent_radius <= self.clearance, "agent_radius", self.agent_radius,
              "in [0.05, clearance]")
        check(self.door_width - 0.05 > 2 * self.clearance, "door_width", self.door_width,
              f"wider than 2 * clearance + 0.05 = {2 * self.clearance + 0.05:.2f}")
        check(isinstance(self.max_tries, int) and 1 <= self.max_tries <= 1000, "max_tries", self.max_tries,
              "an integer in 1..1000")
        check(isinstance(self.min_triangles, int) and 0 <= self.min_triangles <= 200_000, "min_triangles",
              self.min_triangles, "an integer in 0..200000")

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# ----------------------------------------------------------------------------- builder state


class _Builder:
    """Accumulates instances and materials, and the occupancy grids used while furnishing."""

    def __init__(self, rng: np.random.Generator, cfg: SceneConfig, plan: Plan, wall_h: float):
        self.rng, self.cfg, self.plan, self.wall_h = rng, cfg, plan, wall_h
        self.instances: list[Instance] = []
        self.materials: dict[str, Material] = {}
        b = plan.bounds
        self.ox, self.oy = b.x0 - 0.5, b.y0 - 0.5
        self.nx = int(math.ceil((b.w + 1.0) / _CELL))
        self.ny = int(math.ceil((b.h + 1.0) / _CELL))
        self.walls = np.ones((self.nx, self.ny), bool)    # blocked by structure (outside = blocked)
        self.furn = np.zeros((self.nx, self.ny), bool)    # blocked by furniture
        self.keep = np.zeros((self.nx, self.ny), bool)    # door zones furniture must keep off
        self.target_rings: list[np.ndarray] = []
        self.tops: list[tuple[F.Furniture, object, int]] = []  # surfaces small things can stand on
        self.counts: dict[str, int] = {}
        t = cfg.wall_thickness
        for r in plan.rects:  # room interiors are free
            self._mark(self.walls, r.x0 + t / 2, r.y0 + t / 2, r.x1 - t / 2, r.y1 - t / 2, False)

    # -- grids (a cell is covered when its centre lies inside the rectangle)
    def _span(self, a: float, b: float, o: float, n: int) -> slice:
        i0 = max(0, int(math.ceil((a - o) / _CELL - 0.5)))
        i1 = min(n, int(math.floor((b - o) / _CELL - 0.5)) + 1)
        return slice(i0, max(i0, i1))

    def _cells(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        return self._span(x0, x1, self.ox, self.nx), self._span(y0, y1, self.oy, self.ny)

    def _mark(self, grid: np.ndarray, x0, y0, x1, y1, value: bool = True) -> None:
        grid[self._cells(x0, y0, x1, y1)] = value

    def free_space(self, furn: np.ndarray | None = None, radius: float | None = None) -> np.ndarray:
        blocked = self.walls | (self.furn if furn is None else furn)
        return ndimage.distance_transform_edt(~blocked) * _CELL > (self.cfg.clearance if radius is None else radius)

    def connected(self, furn: np.ndarray, extra_ring: np.ndarray | None = None) -> bool:
        """Walkable space is one piece (ignoring specks) that touches every target's surroundings.

        Checked twice: at ``clearance`` (passages wide enough for the navigation graph) and at the
        agent radius (no sealed pockets an agent could stand in).
        """
        dist = ndimage.distance_transform_edt(~(self.walls | furn)) * _CELL
        lab_a, n_a = ndimage.label(dist > self.cfg.agent_radius)
        if n_a > 1 and int((np.bincount(lab_a.ravel())[1:] >= 8).sum()) > 1:
            return False
        lab, n = ndimage.label(dist > self.cfg.clearance)
        if n == 0:
            return False
        sizes = np.bincount(lab.ravel())[1:]
        if int((sizes >= 25).sum()) != 1:
            return False
        main = lab == (int(np.argmax(sizes)) + 1)
        rings = self.target_rings + ([extra_ring] if extra_ring is not None else [])
        return all(bool((main & ring).any()) for ring in rings)

    def ring(self, x0, y0, x1, y1, pad: float = 0.6) -> np.ndarray:
        g = np.zeros((self.nx, self.ny), bool)
        self._mark(g, x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        self._mark(g, x0, y0, x1, y1, False)
        return g

    # -- output
    def material(self, surface: str) -> str:
        name = f"mat_{len(self.materials)}"
        self.materials[name] = make_material(self.rng, name, surface)
        return name

    def add(self, name: str, category: str, material: str, mesh: Mesh, room: int = -1) -> int:
        v, f = mesh
        iid = len(self.instances)
        self.instances.append(Instance(iid, name, category, material, np.asarray(v, np.float32),
                                       np.asarray(f, np.int32), room))
        return iid

    def next_name(self, category: str) -> str:
        k = self.counts.get(category, 0)
        self.counts[category] = k + 1
        return f"{category}_{k}"


# ----------------------------------------------------------------------------- structure


def _door_opening(cfg: SceneConfig) -> float:
    return cfg.door_width + 2 * _JAMB


def _edges(r: Rect) -> list[tuple[str, str, float, float, float]]:
    """(side, orient, line, lo, hi) of a room's four walls; orient "h" means the line is y = const."""
    return [("S", "h", r.y0, r.x0, r.x1), ("N", "h", r.y1, r.x0, r.x1),
            ("W", "v", r.x0, r.y0, r.y1), ("E", "v", r.x1, r.y0, r.y1)]


def _on_boundary(plan: Plan, orient: str, c: float) -> bool:
    b = plan.bounds
    return (orient == "h" and (abs(c - b.y0) < 1e-6 or abs(c - b.y1) < 1e-6)) or \
        (orient == "v" and (abs(c - b.x0) < 1e-6 or abs(c - b.x1) < 1e-6))


def _wall_box(side: str, c: float, a: float, b: float, t_in: float, t_out: float, z0: float, z1: float) -> Mesh:
    """A wall slab along a room side between ``a`` and ``b``: ``t_in`` into the room, ``t_out`` out."""
    if side == "S":
        return box((a, c - t_out, z0), (b, c + t_in, z1))
    if side == "N":
        return box((a, c - t_in, z0), (b, c + t_out, z1))
    if side == "W":
        return box((c - t_out, a, z0), (c + t_in, b, z1))
    return box((c - t_in, a, z0), (c + t_out, b, z1))


def _build_structure(bld: _Builder) -> dict[int, list[tuple[str, float, float]]]:
    """Floors, ceilings, walls (with openings), skirting, windows and doors.

    Returns, per room, the wall intervals occupied by windows as (side, lo, hi).
    """
    cfg, plan, rng, h = bld.cfg, bld.plan, bld.rng, bld.wall_h
    t = cfg.wall_thickness
    ow = _door_opening(cfg)
    ceiling_mat = bld.material("ceiling")
    trim_mat = bld.material("trim")
    glass_mat = bld.material("glass")
    windows: dict[int, list[tuple[str, float, float]]] = {}
    for i, (r, rtype) in enumerate(zip(plan.rects, plan.types)):
        wet = rtype in ("bathroom", "kitchen")
        floor_mat = bld.material("wet_floor" if wet and rng.random() < 0.7 else "floor")
        wall_mat = bld.material("wet_wall" if rtype == "bathroom" else "wall")
        bld.add(f"floor_{i}", "floor", floor_mat, quad(r.x0, r.y0, r.x1, r.y1, 0.0, up=True), i)
        bld.add(f"ceiling_{i}", "ceiling", ceiling_mat, quad(r.x0, r.y0, r.x1, r.y1, h, up=False), i)
        panels, skirting, win_parts, glass, switches = [], [], [], [], []
        extras: list[tuple[str, str, Mesh]] = []
        windows[i] = []
        for side, orient, c, lo, hi in _edges(r):
            openings = sorted(d.pos for d in plan.doors
                              if d.orient == orient and abs(d.c - c) < 1e-6 and lo < d.pos < hi and i in (d.a, d.b))
            outer = _on_boundary(plan, orient, c)
            t_out = t / 2 if outer else 0.0
            solid, cur = [], lo
            for p in openings:
                solid.append((cur, p - ow / 2))
                panels.append(_wall_box(side, c, p - ow / 2, p + ow / 2, t / 2, t_out, cfg.door_height + _JAMB, h))
                cur = p + ow / 2
            solid.append((cur, hi))
            for a, b in solid:
                if b - a < 1e-3:
                    continue
                panels.append(_wall_box(side, c, a, b, t / 2, t_out, 0.0, h))
                ia, ib = a + (t / 2 if a == lo else 0.0), b - (t / 2 if b == hi else 0.0)
                if ib - ia > 0.05:
                    skirting.append(_wall_box(side, c, ia, ib, t / 2 + 0.015, 0.0, 0.0, 0.08))
                    skirting.append(_wall_box(side, c, ia, ib, t / 2 + 0.02, 0.0, h - 0.06, h))
                # windows on exterior walls of rooms (not corridors)
                if outer and rtype != "corridor" and b - a > 1.8 and rng.random() < cfg.window_prob:
                    ww = float(rng.uniform(0.8, min(1.8, b - a - 0.8)))
                    wc = float(rng.uniform(a + 0.4 + ww / 2, b - 0.4 - ww / 2))
                    z0, z1 = float(rng.uniform(0.8, 1.0)), float(rng.uniform(1.9, min(2.2, h - 0.2)))
                    f = 0.06
                    w0, w1 = wc - ww / 2, wc + ww / 2
                    win_parts += [_wall_box(side, c, w0 - f, w1 + f, t / 2 + 0.03, 0, z0 - f, z0),
                                  _wall_box(side, c, w0 - f, w1 + f, t / 2 + 0.03, 0, z1, z1 + f),
                                  _wall_box(side, c, w0 - f, w0, t / 2 + 0.03, 0, z0, z1),
                                  _wall_box(side, c, w1, w1 + f, t / 2 + 0.03, 0, z0, z1),
                                  _wall_box(side, c, wc - 0.02, wc + 0.02, t / 2 + 0.02, 0, z0, z1),
                                  _wall_box(side, c, w0 - f - 0.03, w1 + f + 0.03, t / 2 + 0.06, 0, z0 - f - 0.03,
                                            z0 - f)]
                    win_parts.append(_wall_box(side, c, w0, w1, t / 2 + 0.02, 0, (z0 + z1) / 2 - 0.02,
                                               (z0 + z1) / 2 + 0.02))
                    glass.append(_wall_box(side, c, w0, w1, t / 2 + 0.01, 0, z0, z1))
                    span = (w0 - f - 0.03, w1 + f + 0.03)
                    face = t / 2
                    if rng.random() < 0.5:  # radiator below the window, off the wall
                        rw = ww * float(rng.uniform(0.6, 0.9))
                        n = max(4, int(rw / 0.09))
                        ra = wc - rw / 2
                        rad = [_wall_box(side, c, ra + k * rw / n + 0.01, ra + (k + 1) * rw / n - 0.01, face + 0.1,
                                         -(face + 0.03), 0.15, min(0.7, z0 - 0.12)) for k in range(n)]
                        rad += [_wall_box(side, c, ra, ra + rw, face + 0.08, -(face + 0.05), z, z + 0.03)
                                for z in (0.2, min(0.62, z0 - 0.2))]
                        extras.append(("radiator", "misc", merge(rad)))
                    if rng.random() < 0.6:  # curtains on a rod
                        long = rng.random() < 0.5
                        cz0 = 0.04 if long else z0 - 0.12
                        cur = [_wall_box(side, c, w0 - 0.35, w1 + 0.35, face + 0.13, -(face + 0.1), z1 + 0.12,
                                         z1 + 0.15)]
                        for sgn in (-1, 1):
                            pw = float(rng.uniform(0.2, 0.35))
                            x0 = w0 - 0.3 if sgn < 0 else w1 + 0.3 - pw
                            cur += [_wall_box(side, c, x0 + k * pw / 3, x0 + (k + 1) * pw / 3,
                                              face + (0.08 if k % 2 else 0.11), -(face + (0.04 if k % 2 else 0.06)),
                                              cz0, z1 + 0.12) for k in range(3)]
                        extras.append(("curtain", "misc", merge(cur)))
                        span = (w0 - 0.36, w1 + 0.36)
                    windows[i].append((side, *span))
            for p in openings:  # light switches beside door openings
                for q in (p - ow / 2 - 0.15, p + ow / 2 + 0.15):
                    if lo + 0.1 < q < hi - 0.1 and all(abs(q - o) > ow / 2 + 0.1 for o in openings):
                        switches.append(_wall_box(side, c, q - 0.04, q + 0.04, t / 2 + 0.012, 0, 1.05, 1.17))
                        break
        bld.add(f"wall_{i}", "wall", wall_mat, merge(panels), i)
        if skirting:
            bld.add(f"skirting_{i}", "wall", trim_mat, merge(skirting), i)
        if win_parts:
            bld.add(f"window_{i}", "wall", trim_mat, merge(win_parts), i)
            bld.add(f"window_{i}.glass", "wall", glass_mat, merge(glass), i)
        if switches:
            bld.add(f"switches_{i}", "wall", trim_mat, merge(switches), i)
        for kind, cat, mesh in extras:
            bld.add(bld.next_name(cat), cat, bld.material(kind), mesh, i)
            lo_, hi_ = mesh[0].min(0), mesh[0].max(0)
            if lo_[2] < 1.5:  # reaches into walking height: furniture keeps off, paths go around
                bld._mark(bld.furn, lo_[0] - 0.03, lo_[1] - 0.03, hi_[0] + 0.03, hi_[1] + 0.03)

    # Doors: frame (+ open leaf) centred in the opening; door zones are kept free of furniture.
    door_mats = [bld.material("door") for _ in range(1 + int(rng.random() < 0.3))]
    for k, d in enumerate(plan.doors):
        leaf = rng.random() < cfg.door_leaf_prob
        mesh = F.door_leaf_and_frame(rng, cfg.door_width, t, cfg.door_height, leaf)
        # local frame: wall along x, leaf opening into -y (room a or b at random)
        into_a = rng.random() < 0.5
        if "corridor" in (plan.types[d.a], plan.types[d.b]):  # a leaf swung into a corridor would block it
            into_a = plan.types[d.b] == "corridor"
        ra = plan.rects[d.a]
        if d.orient == "h":
            a_below = ra.y1 <= d.c + 1e-6
            toward_neg = a_below == into_a  # the leaf swings into -y
            yaw = 0.0 if toward_neg else math.pi
            pos = (d.pos, d.c, 0.0)
        else:
            a_left = ra.x1 <= d.c + 1e-6
            toward_neg = a_left == into_a  # the leaf swings into -x
            yaw = -math.pi / 2 if toward_neg else math.pi / 2
            pos = (d.c, d.pos, 0.0)
        v, f = transform(mesh, yaw=yaw, translate=pos)
        room = d.a if into_a else d.b
        iid = bld.add(f"door_{k}", "door", door_mats[k % len(door_mats)], (v, f), room)
        d.instance = iid
        lo, hi = v.min(0), v.max(0)
        # jambs and leaf block walking; the opening itself stays free
        half = ow / 2
        if d.orient == "h":
            bld._mark(bld.walls, d.pos - half, d.c - t, d.pos + half, d.c + t, False)
            for s in (-1, 1):
                bld._mark(bld.walls, d.pos + s * half - _JAMB * (s > 0), d.c - t / 2 - 0.02,
                          d.pos + s * half + _JAMB * (s < 0), d.c + t / 2 + 0.02)
            bld._mark(bld.keep, d.pos - half - 0.15, d.c - 1.0, d.pos + half + 0.15, d.c + 1.0)
        else:
            bld._mark(bld.walls, d.c - t, d.pos - half, d.c + t, d.pos + half, False)
            for s in (-1, 1):
                bld._mark(bld.walls, d.c - t / 2 - 0.02, d.pos + s * half - _JAMB * (s > 0),
                          d.c + t / 2 + 0.02, d.pos + s * half + _JAMB * (s < 0))
            bld._mark(bld.keep, d.c - 1.0, d.pos - half - 0.15, d.c + 1.0, d.pos + half + 0.15)
        if leaf:  # the leaf's footprint (outside the opening) blocks walking too
            if d.orient == "h":
                sel = v[:, 1] < d.c - t / 2 - 0.021 if toward_neg else v[:, 1] > d.c + t / 2 + 0.021
                ly = (lo[1], d.c - t / 2) if toward_neg else (d.c + t / 2, hi[1])
                lx = (v[sel, 0].min(), v[sel, 0].max())
            else:
                sel = v[:, 0] < d.c - t / 2 - 0.021 if toward_neg else v[:, 0] > d.c + t / 2 + 0.021
                lx = (lo[0], d.c - t / 2) if toward_neg else (d.c + t / 2, hi[0])
                ly = (v[sel, 1].min(), v[sel, 1].max())
            bld._mark(bld.walls, lx[0] - 0.03, ly[0] - 0.03, lx[1] + 0.03, ly[1] + 0.03)
    return windows


# ----------------------------------------------------------------------------- furniture


@dataclass
class _Placed:
    x: float
    y: float
    yaw: float
    aabb: tuple[float, float, float, float]


class _Furnisher:
    def __init__(self, bld: _Builder, windows: dict[int, list[tuple[str, float, float]]]):
        self.bld, self.rng, self.windows = bld, bld.rng, windows
        self.t = bld.cfg.wall_thickness

    def inner(self, room: int) -> Rect:
        r = self.bld.plan.rects[room]
        t = self.t / 2 + 0.02  # skirting
        return Rect(r.x0 + t, r.y0 + t, r.x1 - t, r.y1 - t)

    def _try(self, fur: F.Furniture, room: int, x: float, y: float, yaw: float) -> _Placed | None:
        ex, ey = rotated_extent(fur.w, fur.d, yaw)
        aabb = (x - ex / 2, y - ey / 2, x + ex / 2, y + ey / 2)
        ir = self.inner(room)
        if aabb[0] < ir.x0 - 1e-6 or aabb[1] < ir.y0 - 1e-6 or aabb[2] > ir.x1 + 1e-6 or aabb[3] > ir.y1 + 1e-6:
            return None
        bld = self.bld
        cells = bld._cells(aabb[0] - 0.05, aabb[1] - 0.05, aabb[2] + 0.05, aabb[3] + 0.05)
        if fur.category == "rug":
            return _Placed(x, y, yaw, aabb)
        if bld.furn[cells].any() or bld.keep[cells].any():
            return None
        furn = bld.furn.copy()
        furn[cells] = True
        ring = bld.ring(*aabb) if fur.category in TARGETS else None
        if not bld.connected(furn, ring):
            return None
        bld.furn = furn
        if ring is not None:
            bld.target_rings.append(ring)
        return _Placed(x, y, yaw, aabb)

    def _wall_spot(self, fur: F.Furniture, room: int) -> tuple[float, float, float] | None:
        ir = self.inner(room)
        sides = [("S", ir.w), ("N", ir.w), ("W", ir.h), ("E", ir.h)]
        lens = np.array([max(s[1] - fur.w, 0.0) for s in sides])
        if lens.sum() <= 0:
            return None
        side = sides[int(self.rng.choice(4, p=lens / lens.sum()))][0]
        half_d = fur.d / 2 + 0.01
        if side in ("S", "N"):
            a = float(self.rng.uniform(ir.x0 + fur.w / 2, ir.x1 - fur.w / 2))
            x, y = a, (ir.y0 + half_d if side == "S" else ir.y1 - half_d)
            yaw = math.pi if side == "S" else 0.0
        else:
            a = float(self.rng.uniform(ir.y0 + fur.w / 2, ir.y1 - fur.w / 2))
            x, y = (ir.x0 + half_d if side == "W" else ir.x1 - half_d), a
            yaw = math.pi / 2 if side == "W" else -math.pi / 2
        if fur.h > 0.75:  # tall things do not stand in front of windows
            for ws, w0, w1 in self.windows.get(room, []):
                if ws == side and a + fur.w / 2 > w0 and a - fur.w / 2 < w1:
                    return None
        return x, y, yaw

    def place(self, fur: F.Furniture, room: int, mode: str, at: tuple[float, float, float] | None = None
              ) -> _Placed | None:
        ir = self.inner(room)
        rng = self.rng
        for _ in range(1 if at is not None else self.bld.cfg.max_tries):
            if at is not None:
                spot = at
            elif mode == "wall":
                spot = self._wall_spot(fur, room)
            elif mode == "corner":
                cx, cy = int(rng.integers(2)), int(rng.integers(2))
                m = max(fur.w, fur.d) / 2 + 0.01
                spot = (ir.x0 + m if cx == 0 else ir.x1 - m, ir.y0 + m if cy == 0 else ir.y1 - m,
                        float(rng.uniform(0, 2 * math.pi)))
            else:
                yaw = float(rng.integers(4)) * math.pi / 2
                if mode == "free_any":
                    yaw = float(rng.uniform(0, 2 * math.pi))
                ex, ey = rotated_extent(fur.w, fur.d, yaw)
                if ex > ir.w or ey > ir.h:
                    continue
                spot = (float(rng.uniform(ir.x0 + ex / 2, ir.x1 - ex / 2)),
                        float(rng.uniform(ir.y0 + ey / 2, ir.y1 - ey / 2)), yaw)
            if spot is None:
                continue
            p = self._try(fur, room, *spot)
            if p is not None:
                self.emit(fur, room, p)
                return p
        return None

    def emit(self, fur: F.Furniture, room: int, p: _Placed, shared: dict[str, str] | None = None) -> str:
        name = self.bld.next_name(fur.category)
        for part in fur.parts:
            mat = (shared or {}).get(part.surface) or self.bld.material(part.surface)
            if shared is not None:
                shared.setdefault(part.surface, mat)
            mesh = transform(part.mesh, yaw=p.yaw, translate=(p.x, p.y, 0.0))
            self.bld.add(name + (f".{part.suffix}" if part.suffix else ""), part.category, mat, mesh, room)
        return name

    def on_top(self, base: F.Furniture, p: _Placed, room: int, what: str) -> None:
        """Put a table lamp, a TV, a plant, a kitchen sink or small items on ``base``'s top."""
        rng, z = self.rng, base.top or 0.0
        if what in ("items", "lamp") and base.w >= 0.4:
            self.bld.tops.append((base, p, room))
        if what == "items":
            mesh = F.tabletop_items(rng, base.w, base.d, z, int(rng.integers(1, 4)))
            if mesh is not None:
                self.bld.add(self.bld.next_name("misc"), "misc", self.bld.material("misc"),
                             transform(mesh, p.yaw, (p.x, p.y, 0.0)), room)
            return
        if what == "lamp":
            item = F.lamp(rng, floor=False)
        elif what == "tv":
            item = F.tv(rng)
            if item.w > base.w:
                return
        elif what == "sink":
            item = F.sink(rng, "counter")
            if item.w > base.w - 0.2:
                return
        else:
            return
        # items stand near the back of the top; the base already blocks the floor below
        off = (base.d - item.d) / 2 - 0.03 if what != "lamp" else 0.0
        lx = float(rng.uniform(-(base.w - item.w) / 2, (base.w - item.w) / 2)) if what != "tv" else 0.0
        c, s = math.cos(p.yaw), math.sin(p.yaw)
        wx, wy = p.x + c * lx - s * off, p.y + s * lx + c * off
        name = self.bld.next_name(item.category)
        for part in item.parts:
            mesh = transform(part.mesh, p.yaw, (wx, wy, z))
            self.bld.add(name + (f".{part.suffix}" if part.suffix else ""), part.category,
                         self.bld.material(part.surface), mesh, room)

    # -- composite groups
    def dining_set(self, room: int, style: str | None = None, max_chairs: int = 6) -> bool:
        rng = self.rng
        tab = F.table(rng, style or ("dining", "dining", "round")[int(rng.integers(3))])
        ir = self.inner(room)
        chair_style = ("wood", "wood", "office")[int(rng.integers(3))]
        proto = F.chair(rng, chair_style)
        margin = proto.d + 0.1
        for _ in range(self.bld.cfg.max_tries):
            yaw = float(rng.integers(2)) * math.pi / 2
            ex, ey = rotated_extent(tab.w, tab.d, yaw)
            if ex + 2 * margin > ir.w or ey + 2 * margin > ir.h:
                tab = F.table(rng, "coffee" if rng.random() < 0.5 else "round")
                continue
            x = float(rng.uniform(ir.x0 + ex / 2 + margin, ir.x1 - ex / 2 - margin))
            y = float(rng.uniform(ir.y0 + ey / 2 + margin, ir.y1 - ey / 2 - margin))
            p = self.place(tab, room, "free", at=(x, y, yaw))
            if p is None:
                continue
            if rng.random() < 0.6:
                self.on_top(tab, p, room, "items")
            # chair seats around the table, facing it
            seats = []
            if tab.kind == "table_round":
                k = int(rng.integers(2, 5))
                a0 = float(rng.uniform(0, 2 * math.pi))
                seats = [(a0 + 2 * math.pi * j / k, tab.w / 2 + proto.d / 2 + 0.05) for j in range(k)]
                seats = [(math.cos(a) * r, math.sin(a) * r) for a, r in seats]
            else:
                n_side = max(1, int(tab.w // 0.6))
                for s in (-1, 1):
                    seats += [(-tab.w / 2 + tab.w * (j + 0.5) / n_side, s * (tab.d / 2 + proto.d / 2 + 0.05))
                              for j in range(n_side)]
                if tab.kind == "table_dining":
                    seats += [(s * (tab.w / 2 + proto.d / 2 + 0.05), 0.0) for s in (-1, 1)]
            order = rng.permutation(len(seats))[:max_chairs]
            want = int(rng.integers(1, len(order) + 1))
            shared: dict[str, str] = {}
            c, s_ = math.cos(p.yaw), math.sin(p.yaw)
            placed = 0
            for j in order:
                if placed >= want:
                    break
                lx, ly = seats[int(j)]
                wx, wy = p.x + c * lx - s_ * ly, p.y + s_ * lx + c * ly
                fx, fy = p.x - wx, p.y - wy  # facing the table
                cyaw = math.atan2(fx, -fy)
                ch = F.chair(rng, chair_style)
                q = self._try(ch, room, wx, wy, cyaw)
                if q is not None:
                    self.emit(ch, room, q, shared)
                    placed += 1
            return True
        return False

    def desk_set(self, room: int) -> bool:
        dk = F.desk(self.rng)
        p = self.place(dk, room, "wall")
        if p is None:
            return False
        if self.rng.random() < 0.4:
            self.on_top(dk, p, room, "lamp")
        ch = F.chair(self.rng, "office" if self.rng.random() < 0.6 else "wood")
        off = dk.d / 2 + ch.d / 2 + 0.05
        c, s = math.cos(p.yaw), math.sin(p.yaw)
        wx, wy = p.x + s * off, p.y - c * off  # in front of the desk (local -y)
        q = self._try(ch, room, wx, wy, p.yaw + math.pi)
        if q is not None:
            self.emit(ch, room, q)
        return True

    def item(self, kind: str, room: int) -> bool:
        """Place one item of ``kind`` (a furniture kind or a group) in ``room``."""
        rng = self.rng
        ir = self.inner(room)
        if kind == "dining_set":
            return self.dining_set(room)
        if kind == "coffee_set":
            return self.dining_set(room, "coffee", max_chairs=2)
        if kind == "desk_set":
            return self.desk_set(room)
        if kind == "rug":
            return self.place(F.rug(rng, ir.w, ir.h), room, "free") is not None
        if kind == "counter":
            length = float(rng.uniform(1.6, 3.4))
            for _ in range(4):
                fur = F.counter(rng, min(length, max(ir.w, ir.h) - 0.3))
                p = self.place(fur, room, "wall")
                if p is not None:
                    self.on_top(fur, p, room, "sink" if rng.random() < 0.8 else "items")
                    return True
                length *= 0.7
                if length < 1.0:
                    break
            return False
        if kind in ("wardrobe", "nightstand", "sideboard", "tvstand"):
            fur = F.cabinet(rng, "sideboard" if kind == "tvstand" else kind)
            p = self.place(fur, room, "wall")
            if p is not None:
                top = {"nightstand": "lamp", "tvstand": "tv"}.get(kind, "items")
                if kind == "sideboard" and rng.random() < 0.3:
                    top = "tv"
                self.on_top(fur, p, room, top)
            return p is not None
        if kind == "armchair":
            return self.place(F.chair(rng, "armchair"), room, "free_any") is not None
        if kind == "chair":
            return self.place(F.chair(rng), room, "wall" if rng.random() < 0.5 else "free_any") is not None
        if kind == "table":
            return self.place(F.table(rng), room, "free") is not None
        if kind == "plant":
            return self.place(F.plant(rng), room, "corner" if rng.random() < 0.6 else "wall") is not None
        if kind == "lamp":
            return self.place(F.lamp(rng), room, "corner" if rng.random() < 0.6 else "wall") is not None
        if kind == "sink":
            return self.place(F.sink(rng), room, "wall") is not None
        if kind in ("bed", "sofa", "shelf", "toilet", "desk"):
            return self.place(F.BUILDERS[kind](rng), room, "wall") is not None
        raise NavFusionError(f"internal: unknown furniture kind {kind!r}")


#: Per room type: items always attempted, then optional items drawn by clutter.
ROOM_ITEMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "living_room": (("sofa", "dining_set", "tvstand"),
                    ("shelf", "plant", "lamp", "armchair", "sideboard", "rug", "plant", "coffee_set", "shelf",
                     "chair", "lamp", "desk_set")),
    "bedroom": (("bed", "nightstand"),
                ("wardrobe", "nightstand", "rug", "desk_set", "plant", "shelf", "lamp", "chair", "tvstand",
                 "armchair")),
    "kitchen": (("counter", "dining_set"),
                ("wardrobe", "plant", "shelf", "sideboard", "counter", "chair", "lamp", "rug")),
    "office": (("desk_set", "shelf"),
               ("shelf", "plant", "sideboard", "desk_set", "armchair", "lamp", "table", "wardrobe", "sofa",
                "rug")),
    "bathroom": (("toilet", "sink"), ("sideboard", "rug", "plant", "shelf", "sink")),
    "corridor": ((), ("plant", "sideboard", "shelf", "lamp", "rug", "chair", "plant")),
}


def _furnish(bld: _Builder, windows) -> list[dict]:
    cfg, rng, plan = bld.cfg, bld.rng, bld.plan
    fu = _Furnisher(bld, windows)
    room_meta = []
    for i, rtype in enumerate(plan.types):
        cluttered = bool(rng.random() < cfg.clutter)
        area = plan.rects[i].area
        mandatory, optional = ROOM_ITEMS[rtype]
        for kind in mandatory:
            fu.item(kind, i)
        rate = (0.32 if cluttered else 0.07) * cfg.furniture_density
        if rtype == "corridor":
            rate *= 0.5
        n_opt = int(rng.poisson(area * rate))
        for kind in rng.choice(optional, size=min(n_opt, 3 * len(optional)), replace=True):
            fu.item(str(kind), i)
        room_meta.append({"id": i, "type": rtype, "clutter": "cluttered" if cluttered else "open",
                          "area": round(area, 3)})
    # Guarantees: every target and at least six distractor categories.
    rooms_by_pref = sorted(range(len(plan.types)), key=lambda j: (plan.types[j] == "corridor", -plan.rects[j].area))
    for cat, kinds in (("bed", ("bed",)), ("table", ("dining_set", "table", "coffee_set")),
                       ("chair", ("chair", "armchair", "desk_set"))):
        for _ in range(3):
            if any(inst.category == cat for inst in bld.instances):
                break
            for j in rooms_by_pref:
                if any(fu.item(k, j) and any(x.category == cat for x in bld.instances) for k in kinds):
                    break
    fill = ("plant", "lamp", "rug", "shelf", "sideboard", "sink", "sofa", "desk")
    cat_of = {"sideboard": "cabinet"}
    for kind in fill:
        have = {x.category for x in bld.instances if x.category in DISTRACTORS}
        if len(have) >= 6:
            break
        if cat_of.get(kind, kind) in have:
            continue
        for j in rooms_by_pref:
            if fu.item(kind, j):
                break
    return room_meta


# ----------------------------------------------------------------------------- decoration


def _free_wall_intervals(bld: _Builder, room: int, windows) -> list[tuple[str, float, float, float]]:
    """(side, line, lo, hi) stretches of a room's walls clear of doors and windows."""
    r = bld.plan.rects[room]
    ow = _door_opening(bld.cfg) + 0.2
    out = []
    for side, orient, c, lo, hi in _edges(r):
        blocked = [(d.pos - ow / 2, d.pos + ow / 2) for d in bld.plan.doors
                   if d.orient == orient and abs(d.c - c) < 1e-6 and lo < d.pos < hi]
        blocked += [(a, b) for ws, a, b in windows.get(room, []) if ws == side]
        cur = lo + 0.3
        for a, b in sorted(blocked):
            if a - cur > 0.5:
                out.append((side, c, cur, a))
            cur = max(cur, b)
        if hi - 0.3 - cur > 0.5:
            out.append((side, c, cur, hi - 0.3))
    return out


def _decorate(bld: _Builder, windows) -> None:
    """Ceiling lights and wall pictures (above the agent's height band, so they never block walking),
    then more of them until ``min_triangles`` is reached."""
    rng, cfg, t = bld.rng, bld.cfg, bld.cfg.wall_thickness
    lamp_mat = bld.material("lamp")
    frame_mat = bld.material("trim")

    def ceiling_light(room: int) -> None:
        r = bld.plan.rects[room]
        x, y = r.center
        x += float(rng.uniform(-0.2, 0.2)) * r.w
        y += float(rng.uniform(-0.2, 0.2)) * r.h
        drop = float(rng.uniform(0.3, 0.6))
        h = bld.wall_h
        rad = float(rng.uniform(0.15, 0.3))
        parts = [cylinder(x, y, h - 0.03, 0.06, 0.03, 6), cylinder(x, y, h - drop, 0.008, drop, 4),
                 cylinder(x, y, h - drop - 0.2, rad, 0.2, 10, radius_top=rad * float(rng.uniform(0.2, 0.7)))]
        bld.add(bld.next_name("lamp"), "lamp", lamp_mat, merge(parts), room)

    def picture(room: int) -> bool:
        spots = _free_wall_intervals(bld, room, windows)
        if not spots:
            return False
        side, c, lo, hi = spots[int(rng.integers(len(spots)))]
        w = float(rng.uniform(0.35, min(1.2, hi - lo)))
        a = float(rng.uniform(lo, hi - w))
        z0 = float(rng.uniform(1.55, 1.75))
        ph = float(rng.uniform(0.3, min(0.8, bld.wall_h - z0 - 0.25)))
        fr = 0.03
        parts = [_wall_box(side, c, a, a + w, t / 2 + 0.025, 0, z0, z0 + fr),
                 _wall_box(side, c, a, a + w, t / 2 + 0.025, 0, z0 + ph - fr, z0 + ph),
                 _wall_box(side, c, a, a + fr, t / 2 + 0.025, 0, z0 + fr, z0 + ph - fr),
                 _wall_box(side, c, a + w - fr, a + w, t / 2 + 0.025, 0, z0 + fr, z0 + ph - fr)]
        name = bld.next_name("misc")
        bld.add(name, "misc", frame_mat, merge(parts), room)
        canvas = _wall_box(side, c, a + fr, a + w - fr, t / 2 + 0.012, 0, z0 + fr, z0 + ph - fr)
        bld.add(name + ".canvas", "misc", bld.material(("misc", "rug", "counter")[int(rng.integers(3))]), canvas,
                room)
        return True

    for i, rtype in enumerate(bld.plan.types):
        r = bld.plan.rects[i]
        if rtype != "corridor" or max(r.w, r.h) > 3:
            ceiling_light(i)
        for _ in range(int(rng.integers(0, 3))):
            picture(i)
    fu = _Furnisher(bld, windows)
    pictures = dict.fromkeys(range(len(bld.plan.rects)), 2)
    on_tops = [0] * len(bld.tops)
    tries = 0
    while sum(len(x.faces) for x in bld.instances) < cfg.min_triangles and tries < 300:
        tries += 1
        room = int(rng.integers(len(bld.plan.rects)))
        u = rng.random()
        if u < 0.4 and pictures[room] < 4:
            pictures[room] += int(picture(room))
        elif u < 0.85 and bld.tops and min(on_tops) < 3:
            k = int(rng.integers(len(on_tops)))
            if on_tops[k] < 3:  # no piles: a few groups of things per surface
                on_tops[k] += 1
                base, p, rm = bld.tops[k]
                fu.on_top(base, p, rm, "items")
        elif u < 0.9:
            ceiling_light(room)
        else:
            fu.item(("plant", "lamp", "shelf", "rug", "chair")[int(rng.integers(5))], room)


# ----------------------------------------------------------------------------- entry point


def generate_scene(config: SceneConfig | None = None, seed: int = 0, scene_id: str | None = None) -> Scene:
    """Generate a furnished multi-room indoor scene.

    A pure function of ``(config, seed)``: the same arguments give an identical scene
    (``content_hash``). ``scene_id`` only names the result.
    """
    cfg = config or SceneConfig()
    if not isinstance(cfg, SceneConfig):
        raise NavFusionError(f"generate_scene: config must be a SceneConfig, got {type(cfg).__name__}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NavFusionError(f"generate_scene: seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    span = _door_opening(cfg) + 0.7
    for _attempt in range(50):
        n = int(rng.integers(cfg.rooms[0], cfg.rooms[1] + 1))
        corridor = n >= 3 and bool(rng.random() < cfg.corridor_prob)
        plan = make_plan(rng, n, cfg.room_size, corridor, cfg.corridor_width, span, cfg.extra_door_prob)
        if plan is None:
            continue
        wall_h = round(float(rng.uniform(*cfg.wall_height)), 2)
        bld = _Builder(rng, cfg, plan, wall_h)
        windows = _build_structure(bld)
        if not bld.connected(bld.furn):
            continue
        room_meta = _furnish(bld, windows)
        _decorate(bld, windows)
        cats = {x.category for x in bld.instances}
        if all(t in cats for t in TARGETS) and len(cats & set(DISTRACTORS)) >= 6:
            break
    else:
        raise NavFusionError(f"generate_scene: could not generate a valid scene for seed {seed} with {cfg}")
    rooms = [Room(i, plan.types[i], np.array([[r.x0, r.y0], [r.x1, r.y0], [r.x1, r.y1], [r.x0, r.y1]]))
             for i, r in enumerate(plan.rects)]
    doors = [{"instance": int(d.instance), "rooms": [d.a, d.b], "orient": d.orient,
              "center": [d.pos, d.c] if d.orient == "h" else [d.c, d.pos]} for d in plan.doors]
    scene = Scene(
        scene_id=scene_id or f"procedural/{int(seed)}",
        instances=bld.instances,
        rooms=rooms,
        materials=bld.materials,
        floor_height=0.0,
        ceiling_height=wall_h,
        metadata={"generator": GENERATOR_VERSION, "seed": int(seed), "config": cfg.to_json(),
                  "rooms": room_meta, "doors": doors, "wall_thickness": cfg.wall_thickness,
                  "door_width": cfg.door_width},
    )
    return scene
