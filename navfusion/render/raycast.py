"""The ``raycast`` backend: Embree (through ``embreex``) traces one ray per pixel centre.

No GL needed; exact; copes with heavy meshes. Produces the same six buffers as ``gl``: rays are
cast with camera-frame directions ``(x, y, -1)``, so Embree's hit distance *is* the z depth;
normals are the hit triangle's plane normal turned to face the camera; colours use the numpy twins
of the gl shaders (``navfusion.render.shading``); image textures and vertex colours are interpolated
with Embree's barycentric hit coordinates. Hits nearer than ``camera.near`` are kept
(the gl backend clips them), which only matters with the camera inside geometry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from navfusion.errors import NavFusionError
from navfusion.render import shading
from navfusion.render.base import Renderer, check_buffers, empty_buffer, ray_directions
from navfusion.render.camera import BUFFERS, Camera, Frames, Poses
from navfusion.render.gl import rotations
from navfusion.scenes.scene import Scene


class RaycastRenderer(Renderer):
    """Embree ray caster; see the module docstring.

    Args:
        scene, camera: what to render and how.
        views_per_call: views traced per Embree call (bounds memory: ~100 bytes per ray).
    """

    backend = "raycast"

    def __init__(self, scene: Scene, camera: Camera, views_per_call: int = 8) -> None:
        super().__init__(scene, camera)
        verts, faces, owner = scene.merged()
        self._embree = rtcore_scene.EmbreeScene()
        TriangleMesh(self._embree, np.ascontiguousarray(verts, np.float32), np.ascontiguousarray(faces, np.int32))
        self._face_owner = owner
        self._table = shading.material_table(scene)
        # image textures / vertex colours: sampled at Embree's barycentric hit coordinates
        self._surface = shading.SurfaceData(scene) if scene.has_appearance else None
        self._inst_id = np.array([i.id for i in scene.instances], np.int32)
        self._sem_id = np.array([i.semantic_id for i in scene.instances], np.uint8)
        self._rays = ray_directions(camera).reshape(-1, 3)  # (P, 3) camera frame, z = -1
        self._ray_norm = np.linalg.norm(self._rays, axis=1).astype(np.float32)
        self._rays32 = self._rays.astype(np.float32)
        # ~128k rays per Embree call: larger batches only add cache misses in the numpy shading
        self.views_per_call = max(1, min(int(views_per_call), (1 << 17) // (camera.width * camera.height)))

    def render(self, poses: Poses, buffers: Sequence[str] = BUFFERS) -> Frames:
        buffers = check_buffers(buffers)
        if self._embree is None:
            raise NavFusionError("raycast renderer used after close()")
        want = set(buffers)
        n, h, w = len(poses), self.camera.height, self.camera.width
        npx = h * w
        out = {b: empty_buffer(b, n) for b in BUFFERS}
        alloc = {"rgb": ((n, npx, 3), np.uint8), "depth_z": ((n, npx), np.float32),
                 "depth_euclidean": ((n, npx), np.float32), "normal": ((n, npx, 3), np.float32),
                 "semantic": ((n, npx), np.uint8), "instance": ((n, npx), np.int32)}
        res = {b: np.empty(*alloc[b]) for b in want}
        rots = rotations(poses).astype(np.float32)  # (N, 3, 3) camera -> world
        eyes = poses.positions.astype(np.float32)
        for s in range(0, n, self.views_per_call):
            e = min(n, s + self.views_per_call)
            k = e - s
            dirs = np.matmul(self._rays32[None], np.transpose(rots[s:e], (0, 2, 1)))  # (k, P, 3) world
            dirs = np.ascontiguousarray(dirs.reshape(-1, 3))
            orig = np.ascontiguousarray(np.repeat(eyes[s:e], npx, axis=0))
            hit = self._embree.run(orig, dirs, np.full(len(dirs), self.camera.far, np.float32), output=1)
            prim = hit["primID"]
            miss = prim < 0
            owner = self._face_owner[np.where(miss, 0, prim)]
            tz = np.where(miss, np.float32(0), hit["tfar"]).astype(np.float32)
            if "depth_z" in want:
                res["depth_z"][s:e] = tz.reshape(k, npx)
            if "depth_euclidean" in want:
                res["depth_euclidean"][s:e] = tz.reshape(k, npx) * self._ray_norm
            if "semantic" in want:
                res["semantic"][s:e] = np.where(miss, 0, self._sem_id[owner]).reshape(k, npx)
            if "instance" in want:
                res["instance"][s:e] = np.where(miss, -1, self._inst_id[owner]).reshape(k, npx)
            if not want & {"normal", "rgb"}:
                continue
            ng = hit["Ng"]
            ng *= (np.float32(1.0) / np.maximum(np.sqrt(np.einsum("ij,ij->i", ng, ng)), np.float32(1e-30)))[:, None]
            # face the camera
            ng *= np.where(np.einsum("ij,ij->i", ng, dirs) > 0, np.float32(-1), np.float32(1))[:, None]
            ng[miss] = 0
            if "normal" in want:
                # world -> camera: R^T n, i.e. the row vector n @ R
                res["normal"][s:e] = np.matmul(ng.reshape(k, npx, 3), rots[s:e])
            if "rgb" in want:
                p = orig + dirs * tz[:, None]
                surf = None if self._surface is None else (self._surface, np.where(miss, 0, prim), hit["u"], hit["v"])
                col = shading.albedo_and_shade(self._table, owner, p, ng, orig, surf)
                rgb = (col * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
                rgb[miss] = 0
                res["rgb"][s:e] = rgb.reshape(k, npx, 3)
        for b, arr in res.items():
            out[b] = arr.reshape((n, h, w) + arr.shape[2:])
        return Frames(**out)

    def close(self) -> None:
        self._embree = None
