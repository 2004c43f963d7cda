"""An exact analytic renderer of axis-aligned box worlds, for the vision ground-truth tests.

A world is one room interior (an axis-aligned box the camera stands inside) plus solid boxes.
Rendering is a vectorised slab test per box, so depth, normals and labels are exact and no GL /
Embree is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navfusion.common import CATEGORIES
from navfusion.render.camera import Camera, Frames, Poses
from navfusion.scenes.scene import Instance, Material, Room, Scene

_FACES = np.array([[0, 2, 3], [0, 3, 1], [4, 5, 7], [4, 7, 6], [0, 1, 5], [0, 5, 4], [2, 6, 7], [2, 7, 3],
                   [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5]], np.int32)


def _box(lo, hi):
    bits = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], np.float64)
    return (np.asarray(lo) + bits * (np.asarray(hi) - np.asarray(lo))).astype(np.float32), _FACES.copy()


@dataclass
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    category: str = "cabinet"


def box_world(room=((0.0, 0.0, 0.0), (4.0, 3.0, 2.5)), boxes=(), room_type: str = "bedroom") -> Scene:
    """A Scene: one room (floor at z=0) and solid boxes, with rectangular room polygon."""
    (x0, y0, z0), (x1, y1, z1) = room
    insts = []
    v, f = _box(room[0], room[1])
    insts.append(Instance(0, "room_shell", "wall", "m", v, f, room=0))
    for k, b in enumerate(boxes):
        v, f = _box(b.lo, b.hi)
        insts.append(Instance(k + 1, f"{b.category}_{k}", b.category, "m", v, f, room=0))
    poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    scene = Scene("synthetic/box", insts, [Room(0, room_type, poly)], {"m": Material("m")},
                  floor_height=z0, ceiling_height=z1)
    scene.metadata["boxes"] = [(b.lo, b.hi, b.category) for b in boxes]
    scene.metadata["room_box"] = room
    return scene


def render_box_world(scene: Scene, poses: Poses, camera: Camera) -> Frames:
    """Exact Frames of a :func:`box_world` scene."""
    h, w = camera.height, camera.width
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays_c = np.stack([(jj - camera.cx) / camera.fx, -(ii - camera.cy) / camera.fy, -np.ones_like(jj)], -1)
    rays_c = rays_c.reshape(-1, 3)
    room_lo, room_hi = (np.asarray(x, np.float64) for x in scene.metadata["room_box"])
    boxes = [(np.asarray(lo, np.float64), np.asarray(hi, np.float64), cat) for lo, hi, cat in scene.metadata["boxes"]]
    out = {k: [] for k in ("rgb", "depth_z", "depth_euclidean", "normal", "semantic", "instance")}
    for o, rot in zip(poses.positions, poses.rotations()):
        d = rays_c @ rot.T  # world directions with camera-frame z = -1, so t is the z-depth
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
        best_t = np.full(len(d), np.inf)
        best_n = np.zeros((len(d), 3))
        best_sem = np.zeros(len(d), np.uint8)
        best_ins = np.full(len(d), -1, np.int32)
        # room interior: exit point
        t1, t2 = (room_lo - o) * inv, (room_hi - o) * inv
        tmax = np.maximum(t1, t2)
        ax = np.argmin(tmax, axis=1)
        t = tmax[np.arange(len(d)), ax]
        n = np.zeros((len(d), 3))
        n[np.arange(len(d)), ax] = -np.sign(d[np.arange(len(d)), ax])
        sem = np.where(ax == 2, np.where(d[:, 2] < 0, CATEGORIES["floor"].id, CATEGORIES["ceiling"].id),
                       CATEGORIES["wall"].id)
        upd = (t > 0) & (t < best_t)
        best_t[upd], best_n[upd], best_sem[upd], best_ins[upd] = t[upd], n[upd], sem[upd], 0
        for k, (lo, hi, cat) in enumerate(boxes):
            t1, t2 = (lo - o) * inv, (hi - o) * inv
            tmin_a = np.minimum(t1, t2)
            tmin = tmin_a.max(1)
            tmax = np.maximum(t1, t2).min(1)
            ax = np.argmax(tmin_a, axis=1)
            hit = (tmin > 0) & (tmin <= tmax) & (tmin < best_t)
            n = np.zeros((len(d), 3))
            n[np.arange(len(d)), ax] = -np.sign(d[np.arange(len(d)), ax])
            best_t[hit], best_n[hit], best_sem[hit], best_ins[hit] = tmin[hit], n[hit], CATEGORIES[cat].id, k + 1
        ok = np.isfinite(best_t)
        z = np.where(ok, best_t, 0.0)
        p = o + d * z[:, None]
        checker = (np.floor(p / 0.5).sum(1) % 2)
        albedo = np.array([CATEGORIES.get(c.name).color for c in CATEGORIES.values()], np.float64)[best_sem] / 255.0
        shade = 0.35 + 0.65 * np.abs(best_n @ np.array([0.3, 0.2, 0.9]))
        rgb = albedo * (0.75 + 0.25 * checker[:, None]) * shade[:, None]
        out["rgb"].append(np.clip(rgb * 255, 0, 255).astype(np.uint8).reshape(h, w, 3))
        out["depth_z"].append(z.astype(np.float32).reshape(h, w))
        out["depth_euclidean"].append((z * np.linalg.norm(rays_c, axis=1)).astype(np.float32).reshape(h, w))
        out["normal"].append((best_n @ rot).astype(np.float32).reshape(h, w, 3))  # world -> camera: Rᵀ n
        out["semantic"].append(best_sem.reshape(h, w))
        out["instance"].append(best_ins.reshape(h, w))
    return Frames(**{k: np.stack(v) for k, v in out.items()})


class BoxWorldRenderer:
    """The renderer protocol (``.camera``, ``.render(poses)``) over :func:`render_box_world`."""

    backend = "synthetic"

    def __init__(self, scene: Scene, camera: Camera) -> None:
        self.scene, self.camera = scene, camera
        self.calls = 0

    def render(self, poses: Poses, buffers=None) -> Frames:
        self.calls += 1
        return render_box_world(self.scene, poses, self.camera)

    def close(self) -> None:
        pass


def plane_frames(depth: np.ndarray, normal_cam, semantic: int = 1, rgb=None) -> Frames:
    """Frames (N=1) from a given depth map and one constant camera-frame normal (or a normal map)."""
    h, w = depth.shape
    n = np.broadcast_to(np.asarray(normal_cam, np.float32), (h, w, 3)).copy()
    n[depth <= 0] = 0
    rgb = np.full((h, w, 3), 128, np.uint8) if rgb is None else rgb
    return Frames(rgb[None], depth[None].astype(np.float32), depth[None].astype(np.float32), n[None],
                  np.full((1, h, w), semantic, np.uint8), np.zeros((1, h, w), np.int32))
