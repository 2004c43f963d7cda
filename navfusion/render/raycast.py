"""The ``raycast`` backend: Embree (through ``embreex``) traces one ray per pixel centre.

No GL needed; exact; copes with heavy meshes. Produces the same six buffers as ``gl``: rays are
cast with camera-frame directions ``(x, y, -1)``, so Embree's hit distance *is* the z depth;
normals are the hit triangle's plane normal turned to face the camera; colours use the numpy twins
of the gl shaders (``navfusion.render.shading``). Hits nearer than ``camera.near`` are kept
(the gl backend clips them), which only matters with the camera inside geometry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
        try:
            from embreex import rtcore_scene
            from embreex.mesh_construction import TriangleMesh
        except ImportError as e:
            raise NavFusionError(f"raycast backend needs embreex ({e}); pip install embreex") from None
        verts, faces, owner = scene.merged()
        self._embree = rtcore_scene.EmbreeScene()
        TriangleMesh(self._embree, np.ascontiguousarray(verts, np.float32), np.ascontiguousarray(faces, np.int32))
        self._face_owner = owner
        self._table = shading.material_table(scene)
        self._inst_id = np.array([i.id for i in scene.instances], np.int32)
        self._sem_id = np.array([i.semantic_id for i in scene.instances], np.uint8)
        self._rays = ray_directions(camera).reshape(-1, 3)  # (P, 3) camera frame, z = -1
        self._ray_norm = np.linalg.norm(self._rays, axis=1).astype(np.float32)
        self.views_per_call = max(1, int(views_per_call))

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
        res = {b: np.zeros(*alloc[b]) for b in want}
        if "instance" in res:
            res["instance"][:] = -1
        rots = rotations(poses)  # (N, 3, 3) camera -> world
        for s in range(0, n, self.views_per_call):
            e = min(n, s + self.views_per_call)
            k = e - s
            dirs = np.einsum("vij,pj->vpi", rots[s:e], self._rays).reshape(-1, 3).astype(np.float32)
            orig = np.repeat(poses.positions[s:e].astype(np.float32), npx, axis=0)
            far = np.full(len(dirs), self.camera.far, np.float32)
            hit = self._embree.run(orig, dirs, far, output=1)
            prim = hit["primID"]
            ok = prim >= 0
            idx = np.flatnonzero(ok)
            view = idx // npx
            px = idx % npx
            tz = hit["tfar"][idx]
            owner = self._face_owner[prim[idx]]
            if want & {"normal", "rgb"}:
                ng = hit["Ng"][idx].astype(np.float64)
                ng /= np.maximum(np.linalg.norm(ng, axis=1, keepdims=True), 1e-30)
                d = dirs[idx]
                ng[np.einsum("ij,ij->i", ng, d) > 0] *= -1  # face the camera
            sl = (view + s, px)
            if "depth_z" in want:
                res["depth_z"][sl] = tz
            if "depth_euclidean" in want:
                res["depth_euclidean"][sl] = tz * self._ray_norm[px]
            if "normal" in want:
                # world -> camera: R^T n
                res["normal"][sl] = np.einsum("nji,nj->ni", rots[s:e][view], ng)
            if "semantic" in want:
                res["semantic"][sl] = self._sem_id[owner]
            if "instance" in want:
                res["instance"][sl] = self._inst_id[owner]
            if "rgb" in want:
                p = orig[idx].astype(np.float64) + dirs[idx] * tz[:, None]
                col = shading.albedo_and_shade(self._table, owner, p, ng, orig[idx].astype(np.float64))
                res["rgb"][sl] = np.round(col * 255.0).astype(np.uint8)
            del k
        for b, arr in res.items():
            out[b] = arr.reshape((n, h, w) + arr.shape[2:])
        return Frames(**out)

    def close(self) -> None:
        self._embree = None
