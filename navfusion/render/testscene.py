"""Small hand-built scenes for renderer tests and benchmarks (no scene generator needed).

``box_room`` is one closed room whose wall distances are known exactly; ``apartment`` is a
grid of furnished rooms with door openings (thousands of triangles, thin legs, cylinders, every
texture kind) that stands in for generated scenes when checking backends against each other.
"""

from __future__ import annotations

import math

import numpy as np

from navfusion.scenes.scene import TEXTURE_KINDS, Instance, Material, Room, Scene

# Outward-facing, counter-clockwise faces of the unit cube with corners indexed by bits (x, y, z).
_BOX_FACES = np.array([
    [0, 2, 3], [0, 3, 1],  # -x
    [4, 5, 7], [4, 7, 6],  # +x
    [0, 1, 5], [0, 5, 4],  # -y
    [2, 6, 7], [2, 7, 3],  # +y
    [0, 4, 6], [0, 6, 2],  # -z
    [1, 3, 7], [1, 7, 5],  # +z
], dtype=np.int32)


def box_mesh(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box from corner ``lo`` to ``hi``: vertices (8, 3) float32, faces (12, 3) int32."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    bits = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], np.float64)
    return (lo + bits * (hi - lo)).astype(np.float32), _BOX_FACES.copy()


def cylinder_mesh(center, radius: float, z0: float, z1: float, segments: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A closed vertical cylinder (or a cone-less prism with ``segments`` sides)."""
    a = np.arange(segments) * 2 * math.pi / segments
    ring = np.stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)], 1)
    v = np.concatenate([np.c_[ring, np.full(segments, z0)], np.c_[ring, np.full(segments, z1)],
                        [[center[0], center[1], z0], [center[0], center[1], z1]]]).astype(np.float32)
    f = []
    for i in range(segments):
        j = (i + 1) % segments
        f += [[i, j, segments + j], [i, segments + j, segments + i],
              [2 * segments, j, i], [2 * segments + 1, segments + i, segments + j]]
    return v, np.asarray(f, np.int32)


def _merge(parts) -> tuple[np.ndarray, np.ndarray]:
    vs, fs, off = [], [], 0
    for v, f in parts:
        vs.append(v)
        fs.append(f + off)
        off += len(v)
    return np.concatenate(vs).astype(np.float32), np.concatenate(fs).astype(np.int32)


class _Builder:
    def __init__(self) -> None:
        self.instances: list[Instance] = []

    def add(self, name: str, category: str, material: str, parts, room: int = -1) -> None:
        v, f = _merge(parts)
        self.instances.append(Instance(len(self.instances), f"{name}_{len(self.instances)}", category, material,
                                       v, f, room))


def _materials() -> dict[str, Material]:
    mats = {
        "wall": Material("wall", "wall", (0.85, 0.82, 0.75), (0.75, 0.72, 0.66), 0.6),
        "floor": Material("floor", "wood", (0.55, 0.38, 0.22), (0.40, 0.26, 0.14), 0.3),
        "tiles": Material("tiles", "tiles", (0.9, 0.9, 0.88), (0.5, 0.5, 0.5), 0.3),
        "ceiling": Material("ceiling", "plain", (0.95, 0.95, 0.95), (0.9, 0.9, 0.9), 1.0),
        "fabric": Material("fabric", "fabric", (0.3, 0.4, 0.6), (0.2, 0.3, 0.45), 0.05),
        "marble": Material("marble", "marble", (0.9, 0.9, 0.92), (0.5, 0.5, 0.55), 0.4),
        "metal": Material("metal", "metal", (0.6, 0.6, 0.65), (0.4, 0.4, 0.45), 0.1),
        "carpet": Material("carpet", "carpet", (0.6, 0.2, 0.2), (0.4, 0.1, 0.1), 0.05),
        "wood": Material("wood", "wood", (0.65, 0.45, 0.25), (0.45, 0.3, 0.15), 0.2),
    }
    assert set(m.texture for m in mats.values()) == set(TEXTURE_KINDS)
    return mats


def box_room(size=(4.0, 3.0), height: float = 2.5) -> Scene:
    """One closed room ``[0, sx] x [0, sy] x [0, height]`` with floor, ceiling and 4 walls (0.1 m thick,
    inner faces exactly on the room's bounds). Instance ids: 0 floor, 1 ceiling, 2..5 walls -x, +x, -y, +y."""
    sx, sy = size
    b, t = _Builder(), 0.1
    b.add("floor", "floor", "floor", [box_mesh((-t, -t, -t), (sx + t, sy + t, 0))], 0)
    b.add("ceiling", "ceiling", "ceiling", [box_mesh((-t, -t, height), (sx + t, sy + t, height + t))], 0)
    b.add("wall", "wall", "wall", [box_mesh((-t, -t, 0), (0, sy + t, height))], 0)
    b.add("wall", "wall", "wall", [box_mesh((sx, -t, 0), (sx + t, sy + t, height))], 0)
    b.add("wall", "wall", "tiles", [box_mesh((0, -t, 0), (sx, 0, height))], 0)
    b.add("wall", "wall", "tiles", [box_mesh((0, sy, 0), (sx, sy + t, height))], 0)
    poly = np.array([[0, 0], [sx, 0], [sx, sy], [0, sy]], np.float64)
    return Scene("test/box_room/0", b.instances, [Room(0, "office", poly)], _materials(), 0.0, height)


def _chair(b: _Builder, x: float, y: float, room: int, mat: str) -> None:
    s, leg = 0.45, 0.04
    parts = [box_mesh((x + dx, y + dy, 0), (x + dx + leg, y + dy + leg, 0.45))
             for dx in (0, s - leg) for dy in (0, s - leg)]
    parts += [box_mesh((x, y, 0.45), (x + s, y + s, 0.5)), box_mesh((x, y + s - 0.05, 0.5), (x + s, y + s, 0.95))]
    b.add("chair", "chair", mat, parts, room)


def _table(b: _Builder, x: float, y: float, room: int, w=1.2, d=0.8) -> None:
    leg = 0.06
    parts = [box_mesh((x + dx, y + dy, 0), (x + dx + leg, y + dy + leg, 0.72))
             for dx in (0, w - leg) for dy in (0, d - leg)]
    parts.append(box_mesh((x, y, 0.72), (x + w, y + d, 0.76)))
    b.add("table", "table", "wood", parts, room)


def apartment(rooms: tuple[int, int] = (3, 2), room_size: float = 5.0, height: float = 2.6,
                   detail: int = 16) -> Scene:
    """A grid of furnished rooms connected by door openings.

    With the defaults (6 rooms, ``detail=16`` cylinder segments) the scene has about 6,000 triangles,
    in line with the generated quickstart scenes. Deterministic (no randomness).
    """
    nx, ny = rooms
    b, t = _Builder(), 0.1
    w, hgt = nx * room_size, ny * room_size
    b.add("floor", "floor", "floor", [box_mesh((0, 0, -t), (w, hgt, 0))])
    b.add("ceiling", "ceiling", "ceiling", [box_mesh((0, 0, height), (w, hgt, height + t))])
    door_w, door_h = 0.9, 2.1
    # outer walls
    for lo, hi in [((-t, -t, 0), (w + t, 0, height)), ((-t, hgt, 0), (w + t, hgt + t, height)),
                   ((-t, 0, 0), (0, hgt, height)), ((w, 0, 0), (w + t, hgt, height))]:
        b.add("wall", "wall", "wall", [box_mesh(lo, hi)])
    # inner walls along x = const, each with a door opening in every room span
    for i in range(1, nx):
        x = i * room_size
        parts = []
        for j in range(ny):
            y0, y1, yc = j * room_size, (j + 1) * room_size, (j + 0.5) * room_size
            parts += [box_mesh((x - t / 2, y0, 0), (x + t / 2, yc - door_w / 2, height)),
                      box_mesh((x - t / 2, yc + door_w / 2, 0), (x + t / 2, y1, height)),
                      box_mesh((x - t / 2, yc - door_w / 2, door_h), (x + t / 2, yc + door_w / 2, height))]
        b.add("wall", "wall", "wall" if i % 2 else "tiles", parts)
    for j in range(1, ny):
        y = j * room_size
        parts = []
        for i in range(nx):
            x0, x1, xc = i * room_size, (i + 1) * room_size, (i + 0.3) * room_size
            parts += [box_mesh((x0, y - t / 2, 0), (xc - door_w / 2, y + t / 2, height)),
                      box_mesh((xc + door_w / 2, y - t / 2, 0), (x1, y + t / 2, height)),
                      box_mesh((xc - door_w / 2, y - t / 2, door_h), (xc + door_w / 2, y + t / 2, height))]
            # a door leaf standing open next to the opening
            b.add("door", "door", "wood", [box_mesh((xc + door_w / 2, y + t / 2, 0),
                                                    (xc + door_w / 2 + 0.04, y + t / 2 + door_w, door_h))])
        b.add("wall", "wall", "wall", parts)
    room_list = []
    seats = ["fabric", "wood", "metal"]
    for i in range(nx):
        for j in range(ny):
            rid = len(room_list)
            x0, y0 = i * room_size, j * room_size
            room_list.append(Room(rid, ("bedroom", "living_room", "kitchen", "office", "bathroom", "corridor")[rid % 6],
                                  np.array([[x0, y0], [x0 + room_size, y0], [x0 + room_size, y0 + room_size],
                                            [x0, y0 + room_size]], np.float64)))
            tx, ty = x0 + 1.6, y0 + 1.8
            _table(b, tx, ty, rid)
            for k, (cx, cy) in enumerate([(tx - 0.5, ty + 0.15), (tx + 1.25, ty + 0.15),
                                          (tx + 0.35, ty - 0.5), (tx + 0.35, ty + 0.85)]):
                _chair(b, cx, cy, rid, seats[(k + rid) % 3])
            if rid % 2 == 0:
                b.add("bed", "bed", "fabric", [box_mesh((x0 + 3.0, y0 + 0.3, 0), (x0 + 4.6, y0 + 2.3, 0.5)),
                                               box_mesh((x0 + 3.0, y0 + 0.2, 0), (x0 + 4.6, y0 + 0.3, 1.0))], rid)
            else:
                b.add("sofa", "sofa", "fabric", [box_mesh((x0 + 3.0, y0 + 0.3, 0), (x0 + 4.8, y0 + 1.2, 0.45)),
                                                 box_mesh((x0 + 3.0, y0 + 0.2, 0), (x0 + 4.8, y0 + 0.4, 0.9))], rid)
            b.add("shelf", "shelf", "wood", [box_mesh((x0 + 0.1, y0 + 3.8 + 0.0, 0.4 * k),
                                                      (x0 + 0.5, y0 + 4.8, 0.4 * k + 0.03)) for k in range(5)]
                  + [box_mesh((x0 + 0.1, y0 + 3.78, 0), (x0 + 0.5, y0 + 3.8, 1.8))], rid)
            b.add("cabinet", "cabinet", "marble", [box_mesh((x0 + 3.8, y0 + 4.3, 0), (x0 + 4.8, y0 + 4.8, 0.9))], rid)
            b.add("rug", "rug", "carpet", [box_mesh((x0 + 1.2, y0 + 1.4, 0), (x0 + 3.2, y0 + 3.0, 0.01))], rid)
            for k, (px, py) in enumerate([(x0 + 0.5, y0 + 0.5), (x0 + 4.4, y0 + 3.2)]):
                pot = cylinder_mesh((px, py), 0.18, 0.0, 0.4, detail)
                stem = cylinder_mesh((px, py), 0.02, 0.4, 1.0, max(6, detail // 2))
                crown = cylinder_mesh((px, py), 0.3, 1.0, 1.3, detail)
                b.add("plant", "plant", "carpet" if k else "tiles", [pot, stem, crown], rid)
            b.add("lamp", "lamp", "metal", [cylinder_mesh((x0 + 2.5, y0 + 2.5), 0.2, height - 0.25, height - 0.05,
                                                          detail)], rid)
    return Scene("test/apartment/0", b.instances, room_list, _materials(), 0.0, height)
