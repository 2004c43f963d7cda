"""Small hand-made scenes and a cheap stand-in renderer for navigation tests and examples.

``toy_scene`` is a closed two-room apartment made of boxes with a door opening, one chair, one
table, one bed and a door leaf, so every target is reachable and distances are known roughly.
``FlatRenderer`` paints each view from its pose alone (no geometry), which is enough to test
caching, the environment and vectorisation without a real renderer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from navfusion.render.camera import BUFFERS, Camera, Frames, Poses
from navfusion.scenes.scene import Instance, Material, Room, Scene

# corner k of a box has bits (x, y, z) = (k >> 2, k >> 1, k) & 1; faces counter-clockwise seen from outside
_BOX_FACES = np.array([[0, 3, 2], [0, 1, 3], [4, 7, 5], [4, 6, 7], [0, 5, 1], [0, 4, 5],
                       [2, 7, 6], [2, 3, 7], [0, 6, 4], [0, 2, 6], [1, 7, 3], [1, 5, 7]], np.int32)


def box(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box ``lo``..``hi``: vertices (8, 3) float32, faces (12, 3) int32 (outward)."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    bits = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], np.float64)
    return (lo + bits * (hi - lo)).astype(np.float32), _BOX_FACES.copy()


def boxes_scene(boxes: Sequence[tuple[str, tuple, tuple]], scene_id: str = "test/boxes/0",
                floor: tuple = ((-0.1, -0.1), (10.1, 6.1)), height: float = 2.5) -> Scene:
    """A scene with a floor slab (top at z=0) and one instance per ``(category, lo, hi)`` box."""
    mats = {"plain": Material("plain")}
    (x0, y0), (x1, y1) = floor
    parts = [("floor", (x0, y0, -0.1), (x1, y1, 0.0)), *boxes]
    insts = []
    for i, (cat, lo, hi) in enumerate(parts):
        v, f = box(lo, hi)
        insts.append(Instance(i, f"{cat}_{i}", cat, "plain", v, f, 0))
    room = Room(0, "living_room", np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64))
    return Scene(scene_id, insts, [room], mats, 0.0, height)


def toy_scene(scene_id: str = "test/toy/0", with_bed: bool = True) -> Scene:
    """Two rooms (6 x 6 m and 4 x 6 m) joined by a 1 m door opening; a chair, table, bed and door.

    ``with_bed=False`` puts the bed in a sealed closet instead, so ``bed`` is present but unreachable.
    """
    t, h = 0.1, 2.5
    walls = [
        ("wall", (-t, -t, 0), (10 + t, 0, h)), ("wall", (-t, 6, 0), (10 + t, 6 + t, h)),
        ("wall", (-t, 0, 0), (0, 6, h)), ("wall", (10, 0, 0), (10 + t, 6, h)),
        # inner wall at x = 6 with a door opening for y in [2.5, 3.5]
        ("wall", (6 - t / 2, 0, 0), (6 + t / 2, 2.5, h)), ("wall", (6 - t / 2, 3.5, 0), (6 + t / 2, 6, h)),
        ("wall", (6 - t / 2, 2.5, 2.1), (6 + t / 2, 3.5, h)),
    ]
    objects = [
        ("chair", (1.0, 1.0, 0), (1.5, 1.5, 0.9)),
        ("table", (2.5, 3.5, 0), (3.7, 4.3, 0.75)),
        ("door", (6 + t / 2, 3.5, 0), (6 + t / 2 + 0.04, 4.4, 2.1)),
        ("sofa", (0.2, 4.8, 0), (2.0, 5.7, 0.8)),
    ]
    if with_bed:
        objects.append(("bed", (8.0, 0.5, 0), (9.6, 2.5, 0.55)))
    else:
        # a closet sealed on all sides with the bed inside
        walls += [("wall", (8.0, 4.0, 0), (10, 4.1, h)), ("wall", (8.0, 4.1, 0), (8.1, 6, h))]
        objects.append(("bed", (8.6, 4.6, 0), (9.6, 5.8, 0.55)))
    return boxes_scene(walls + objects, scene_id=scene_id, floor=((-t, -t), (10 + t, 6 + t)), height=h)


class FlatRenderer:
    """A stand-in renderer: each view is a flat colour computed from its pose (position and yaw).

    Deterministic, fast, and distinct per node and view, so tests can check which view was returned.
    """

    backend = "flat"

    def __init__(self, scene: Scene, camera: Camera, backend: str = "auto") -> None:
        self.scene, self.camera = scene, camera
        self.calls = 0

    def render(self, poses: Poses, buffers: Sequence[str] = BUFFERS) -> Frames:
        self.calls += 1
        n, h, w = len(poses), self.camera.height, self.camera.width
        code = np.stack([poses.positions[:, 0] * 20, poses.positions[:, 1] * 20, poses.yaws * 30], 1)
        color = (np.abs(code) % 256).astype(np.uint8)
        rgb = np.broadcast_to(color[:, None, None, :], (n, h, w, 3)).copy()
        depth = np.broadcast_to((1.0 + poses.yaws)[:, None, None].astype(np.float32), (n, h, w)).copy()
        sem = np.broadcast_to((np.arange(n) % 20).astype(np.uint8)[:, None, None], (n, h, w)).copy()
        normal = np.zeros((n, h, w, 3), np.float32)
        normal[..., 2] = 1.0
        return Frames(rgb, depth, depth.copy(), normal, sem, np.zeros((n, h, w), np.int32))

    def close(self) -> None:
        pass


def flat_renderer_factory(scene: Scene, camera: Camera, backend: str) -> FlatRenderer:
    """``renderer_factory`` for :func:`navfusion.nav.world.load_world` that builds a ``FlatRenderer``."""
    return FlatRenderer(scene, camera, backend)
