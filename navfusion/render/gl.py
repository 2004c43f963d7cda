"""The ``gl`` backend: moderngl on a headless EGL context.

How it is fast on a CPU (Mesa llvmpipe), where per-triangle and per-pixel work dominate:

* geometry is stored de-indexed (three vertices per face, each carrying its face id), sorted into
  culling chunks (one part's faces within one floor-plan cell; a part is a connected piece of an
  instance, e.g. one box of a wall or of a piece of furniture) with their own bounding boxes;
  chunks outside a view's frustum or hidden behind full-height walls
  (``navfusion.render.occlusion``) are not drawn;
* per pass the CPU writes one index list per view: the faces of its visible chunks, nearest chunk
  first (so the depth test rejects hidden fragments early), without the back faces of closed
  parts (a plane test per face and camera position; the 8 views of a node share it, and the last
  64 positions are cached). Each view is then one or two indirect draw commands (closed parts are
  also drawn with GL back-face culling, open parts and parts next to the camera without): llvmpipe
  pays per command, per triangle and per rasterised fragment. With walls made of separate boxes,
  culling back faces per part rather than per instance halves the fragments rasterised (4.1 ->
  2.2 per pixel on quickstart scenes);
* up to 16 views go into one tall atlas (one horizontal band per view): the command's base
  instance selects the view, the vertex shader squeezes the view's clip space into its band and
  clips to it with two clip distances. The render targets are exactly as tall as the views of
  the pass (one set per view count, made on first use) and the viewport keeps the 16-band layout,
  so a pass clears whole framebuffers: llvmpipe clears a whole framebuffer tile by tile as it
  rasterises, but a clear limited to some bands (a scissored clear) is an extra full-screen draw
  (5 % of the time per view at 128² with 8-view batches);
* deferred shading: the geometry pass writes only (z depth, face id) (z depth is ``1 /
  gl_FragCoord.w``: no varying to interpolate), so hidden fragments cost almost nothing; one
  full-screen pass then computes, once per pixel, the procedural texture and lighting
  (``navfusion.render.shading``), the camera-frame normal and the semantic and instance ids from a
  three-texel-per-face table, into four render targets laid out like the output buffers (rgb8,
  rgb32f, r8, r32i). ``depth_z`` is read from the geometry pass; ``depth_euclidean`` is ``depth_z``
  times each pixel's ray length (exact for a pinhole), computed on the CPU;
* each target is read back once per pass straight into the output arrays (no numpy conversion:
  strided copies in numpy cost more than the rendering at 128²).

Material colours, normals, texture scales and ids travel exactly (float32; the shipped encoders
were trained on these images, so colours must not drift).

Threads: llvmpipe rasterises with ``LP_NUM_THREADS`` threads (default: one per core), read when
the context is created. One rendering process per core with ``LP_NUM_THREADS=0`` (rasterise in the
calling thread) uses a CPU best; ``navfusion.cli.bench.render`` sets that in its worker processes.

Several renderers may live in one process: each makes its own context current before it draws.

Limits: face and instance ids travel as exact floats (up to 16.7 million triangles per scene,
instance ids in 0..16,777,215).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.render import shading
from navfusion.render.base import Renderer, check_buffers, empty_buffer, ray_directions
from navfusion.render.camera import BUFFERS, Camera, Frames, Poses
from navfusion.render.occlusion import WallOcclusion
from navfusion.scenes.scene import Scene

MAX_VIEWS = 16  # views per pass (uniform arrays are sized for 16)
_FACE_ROW = 4096  # faces per row of the face textures
_MAX_INSTANCE_ID = (1 << 24) - 1  # instance ids travel as exact floats
#: render targets of the shading pass, in attachment order: (buffer, components, dtype)
_TARGETS = (("rgb", 3, "f1"), ("normal", 3, "f4"), ("semantic", 1, "f1"), ("instance", 1, "i4"))

_GEOM_VERT = """
#version 330
uniform mat4 u_vp[16];
in vec3 in_pos;
in int in_face;
in int in_view;  // per draw command (base instance = view)
flat out int v_face;
void main() {
    vec4 c = u_vp[in_view] * vec4(in_pos, 1.0);
    // each view owns one horizontal band of the atlas: squeeze y into the band, clip to it
    gl_ClipDistance[0] = c.w + c.y;
    gl_ClipDistance[1] = c.w - c.y;
    gl_Position = vec4(c.x, (c.y + c.w * float(2 * in_view + 1 - %(bands)d)) / float(%(bands)d), c.z, c.w);
    v_face = in_face;
}
"""

_GEOM_FRAG = """
#version 330
flat in int v_face;
layout(location = 0) out vec2 o_depth_face;  // (z depth, face + 1 as an exact float)
void main() {
    // clip w is the z depth (the projection's last row is -z): no varying to interpolate
    o_depth_face = vec2(1.0 / gl_FragCoord.w, float(v_face + 1));
}
"""

_SHADE_VERT = """
#version 330
in vec2 in_xy;
void main() { gl_Position = vec4(in_xy, 0.0, 1.0); }
"""

_SHADE_FRAG = """
#version 330
uniform vec3 u_eye[16];
uniform mat3 u_rot[16];   // camera -> world
uniform vec4 u_intr;      // fx, fy, cx, cy
uniform sampler2D u_gbuf;    // (z depth, face + 1)
uniform sampler2D u_faces;   // 3 texels per face: (normal, kind + 16 * semantic), (color, scale), (color2, id)
layout(location = 0) out vec3 o_rgb;  // locations follow _TARGETS
layout(location = 1) out vec3 o_normal;
layout(location = 2) out float o_sem;
layout(location = 3) out int o_inst;
%(shading)s
void main() {
    ivec2 px = ivec2(gl_FragCoord.xy);
    vec2 g = texelFetch(u_gbuf, px, 0).rg;
    int face = int(g.y + 0.5) - 1;
    if (face < 0) {
        o_rgb = vec3(0.0); o_sem = 0.0; o_normal = vec3(0.0); o_inst = -1;
        return;
    }
    float dz = g.x;
    int view = px.y / %(height)d;  // a constant: no per-lane integer division
    float row = gl_FragCoord.y - float(view * %(height)d);
    vec3 ray = vec3((gl_FragCoord.x - u_intr.z) / u_intr.x, -(row - u_intr.w) / u_intr.y, -1.0);
    mat3 rot = u_rot[view];
    vec3 world = u_eye[view] + rot * (ray * dz);
    ivec2 base = ivec2(3 * (face %% %(frow)d), face / %(frow)d);
    vec4 f0 = texelFetch(u_faces, base, 0);
    vec4 f1 = texelFetch(u_faces, base + ivec2(1, 0), 0);
    vec4 f2 = texelFetch(u_faces, base + ivec2(2, 0), 0);
    vec3 n = f0.xyz;
    vec3 d = u_eye[view] - world;
    float dist = length(d);
    vec3 to_eye = d / max(dist, 1e-9);
    if (dot(n, to_eye) < 0.0) n = -n;
    int kind_sem = int(f0.w + 0.5);
    int kind = kind_sem & 15;
%(albedo)s
    o_rgb = nf_shade(albedo, n, to_eye, dist);
    o_sem = float(kind_sem >> 4) / 255.0;
    o_normal = transpose(rot) * n;
    o_inst = int(f2.w + 0.5);
}
"""


_ALBEDO_PROCEDURAL = """    vec3 albedo = mix(f1.rgb, f2.rgb, nf_pattern(kind, world, n, f1.w));"""
_ALBEDO_SURFACE = f"""    vec3 albedo = kind == {shading.SURFACE_KIND} ? nf_surface(int(f1.w + 0.5), world, f1.rgb)
                             : mix(f1.rgb, f2.rgb, nf_pattern(kind, world, n, f1.w));"""


def closed_orientation(vertices: np.ndarray, faces: np.ndarray) -> int:
    """+1 if the mesh is closed and consistently wound outwards (counter-clockwise seen from outside),
    -1 if closed and wound inwards, 0 if it is open or inconsistent (back faces may then be seen)."""
    if len(faces) < 4:
        return 0
    _, weld = np.unique(np.round(np.asarray(vertices, np.float64) * 1e5).astype(np.int64), axis=0,
                        return_inverse=True)
    f = weld.reshape(-1)[faces]
    if np.any((f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])):
        return 0
    n = int(f.max()) + 1
    a = f.reshape(-1)
    b = f[:, [1, 2, 0]].reshape(-1)
    fwd = np.sort(a * n + b)
    if np.any(fwd[1:] == fwd[:-1]) or not np.array_equal(fwd, np.sort(b * n + a)):
        return 0  # a directed edge twice, or an edge without its opposite half
    v = np.asarray(vertices, np.float64)[faces]
    vol = np.einsum("fi,fi->f", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum()
    return 1 if vol > 0 else (-1 if vol < 0 else 0)


def part_orientation(vertices: np.ndarray, faces: np.ndarray, weld: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per face, :func:`closed_orientation` of the connected part (faces sharing vertex indices) it
    belongs to, and the part's label 0..P-1: two (F,) int arrays. Furniture and walls are unions of
    separate boxes: the mesh as a whole is not closed (boxes touch), but each box is, so its back
    faces can still be culled. With ``weld``, faces sharing vertex *positions* are connected: textured
    meshes split vertices at uv seams (every face of a box its own corners), which would otherwise
    make each face a part of its own (no back-face culling, and one culling chunk per face)."""
    faces = np.asarray(faces, np.int64)
    F = len(faces)
    if F == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if weld:
        # faces are joined across edges shared by exactly two faces (welded positions): one box's
        # faces join, while boxes touching along an edge (four faces) or at a corner stay apart,
        # as they are in the procedural scenes' index-based connectivity
        _, w = np.unique(np.round(np.asarray(vertices, np.float64) * 1e5).astype(np.int64), axis=0,
                         return_inverse=True)
        wf = w.reshape(-1)[faces]
        e = np.sort(np.stack([wf, wf[:, [1, 2, 0]]], 2).reshape(-1, 2), axis=1)  # (3F, 2) edges of faces
        _, key, count = np.unique(e, axis=0, return_inverse=True, return_counts=True)
        key = key.reshape(-1)
        two = count[key] == 2
        order = np.argsort(key[two], kind="stable")
        fid = np.repeat(np.arange(F), 3)[two][order]
        a, b = fid[0::2], fid[1::2]
        _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(F, F)), directed=False)
        _, part = np.unique(label, return_inverse=True)
    else:
        V = len(vertices)
        a = faces.reshape(-1)
        b = faces[:, [1, 2, 0]].reshape(-1)
        n_parts, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(V, V)), directed=False)
        _, part = np.unique(label[faces[:, 0]], return_inverse=True)  # parts without faces drop out
    part = part.reshape(-1).astype(np.int64)
    if part.max() == 0:
        return np.full(F, closed_orientation(vertices, faces), np.int64), part
    out = np.zeros(F, np.int64)
    order = np.argsort(part, kind="stable")
    bounds = np.flatnonzero(np.r_[True, part[order][1:] != part[order][:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:]):
        idx = order[s:e]
        out[idx] = closed_orientation(vertices, faces[idx])
    return out, part


def _chunk_scene(scene: Scene, chunk_size: float, per_instance: bool = True, cull_closed: bool = True):
    """Merge all instances and split the faces into culling chunks.

    Faces are sorted by floor-plan cell (``chunk_size`` metres square) and, within a cell, by
    part (a connected piece of an instance, e.g. one box of a wall); a chunk is one part's faces in
    one cell (or the whole cell when ``per_instance=False``).
    With ``cull_closed``, the faces of closed parts (:func:`part_orientation`) come first (wound
    outwards), so they can be drawn with back-face culling: from outside a closed mesh its back
    faces are never visible.

    Returns vertices (V, 3) float32, per-vertex instance index (V,) int32, faces (F, 3) int32 sorted
    by chunk, chunk face ranges (C, 2) int64 ``[first, end)``, chunk boxes (C, 2, 3) float32, the
    number of leading chunks that belong to closed parts, each face's part (F,) int64, the
    parts' boxes (P, 2, 3) float64 and each sorted face's index in ``scene.merged()`` (F,) int64.
    """
    verts, faces, owner_f = scene.merged()
    owner_v = np.zeros(len(verts), np.int32)
    owner_v[faces.reshape(-1)] = np.repeat(owner_f, 3)
    orient, part, n_parts = [], [], 0
    for inst in scene.instances:
        o, p = part_orientation(inst.vertices, np.asarray(inst.faces),
                                weld=inst.uv is not None or inst.colors is not None)
        orient.append(o if cull_closed else np.zeros_like(o))
        part.append(p + n_parts)
        n_parts += int(p.max()) + 1 if len(p) else 0
    orient, part = np.concatenate(orient), np.concatenate(part)
    flip = orient < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, [0, 2, 1]]
    is_open = (orient == 0).astype(np.int64)
    tri = verts[faces]  # (F, 3, 3)
    cell = np.floor(tri.mean(1)[:, :2] / chunk_size).astype(np.int64)
    _, cell_key = np.unique(cell, axis=0, return_inverse=True)
    cell_key = cell_key.reshape(-1).astype(np.int64)
    key = (is_open * (int(cell_key.max()) + 1) + cell_key) * (n_parts + 1) + (part if per_instance else 0)
    order = np.argsort(key, kind="stable")
    faces, tri, key, is_open, part = faces[order], tri[order], key[order], is_open[order], part[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(faces)]
    boxes = np.stack([np.stack([tri[a:b].reshape(-1, 3).min(0), tri[a:b].reshape(-1, 3).max(0)])
                      for a, b in zip(starts, ends)])
    n_closed = int((is_open[starts] == 0).sum())
    corners = tri.reshape(-1, 3)
    part_box = np.stack([np.full((n_parts, 3), np.inf), np.full((n_parts, 3), -np.inf)], 1)
    np.minimum.at(part_box[:, 0], np.repeat(part, 3), corners)
    np.maximum.at(part_box[:, 1], np.repeat(part, 3), corners)
    return (verts, owner_v, faces.astype(np.int32), np.stack([starts, ends], 1).astype(np.int64),
            boxes.astype(np.float32), n_closed, part, part_box, order)


def projection(camera: Camera) -> np.ndarray:
    """(4, 4) OpenGL projection with y flipped, so that image row 0 (the top) is framebuffer row 0."""
    w, h, n, f = camera.width, camera.height, camera.near, camera.far
    return np.array([
        [2 * camera.fx / w, 0, 1 - 2 * camera.cx / w, 0],
        [0, -2 * camera.fy / h, -(2 * camera.cy / h - 1), 0],
        [0, 0, -(f + n) / (f - n), -2 * f * n / (f - n)],
        [0, 0, -1, 0],
    ], np.float64)


def rotations(poses: Poses) -> np.ndarray:
    """(N, 3, 3) camera-to-world rotations, vectorised :func:`navfusion.render.camera.camera_rotation`."""
    cy, sy = np.cos(poses.yaws), np.sin(poses.yaws)
    cp, sp = np.cos(poses.pitches), np.sin(poses.pitches)
    fwd = np.stack([cy * cp, sy * cp, sp], 1)
    right = np.stack([sy, -cy, np.zeros_like(cy)], 1)
    up = np.cross(right, fwd)
    return np.stack([right, up, -fwd], axis=2)


class GLRenderer(Renderer):
    """moderngl/EGL renderer; see the module docstring. The EGL context is created on first use.

    Args:
        scene, camera: what to render and how.
        max_views_per_pass: views drawn per pass (1..16; fewer for large images).
        chunk_size: edge of the floor-plan culling cells, metres.
        per_instance: cull per part of an instance within a cell (else per cell).
        occlusion: also cull chunks hidden behind full-height walls (``navfusion.render.occlusion``).
        cull_back_faces: skip the back faces of closed meshes (a camera inside a closed mesh
            then sees out of it, where the raycaster sees its inside).
    """

    backend = "gl"

    def __init__(self, scene: Scene, camera: Camera, max_views_per_pass: int = MAX_VIEWS,
                 chunk_size: float = 2.5, per_instance: bool = True, occlusion: bool = True,
                 cull_back_faces: bool = True) -> None:
        super().__init__(scene, camera)
        if not 1 <= int(max_views_per_pass) <= MAX_VIEWS:
            raise NavFusionError(f"max_views_per_pass={max_views_per_pass}: must be in 1..{MAX_VIEWS}")
        # the atlas stays within GL's 16384-pixel limit and ~2 Mpixels (~60 MB of render targets)
        self.views_per_pass = int(min(max_views_per_pass, max(1, 16384 // camera.height),
                                      max(1, (1 << 21) // (camera.width * camera.height))))
        (self._verts, self._owner, self._faces, self._ranges, self._boxes, self._n_closed, self._part,
         self._part_box, merged_face) = _chunk_scene(scene, chunk_size, per_instance, cull_back_faces)
        # faces from here on belong to open parts (never back-face culled)
        self._open_first = int(self._ranges[self._n_closed, 0]) if self._n_closed < len(self._ranges) \
            else len(self._faces)
        lo, hi = self._boxes[:, 0], self._boxes[:, 1]
        self._centers = 0.5 * (lo + hi)
        self._center_half = np.concatenate([self._centers, 0.5 * (hi - lo)], axis=1).T.copy()  # (6, C)
        # the three de-indexed vertices of each face
        self._corner_idx = (3 * np.arange(len(self._faces), dtype=np.uint32))[:, None] + np.arange(3, dtype=np.uint32)
        m = 2 * camera.near  # parts this near the camera are drawn without back-face culling
        self._part_lo, self._part_hi = self._part_box[:, 0] - m, self._part_box[:, 1] + m
        self._occ = WallOcclusion(self._verts, self._faces, scene.floor_height, scene.ceiling_height) \
            if occlusion else None
        self._seen: dict[bytes, tuple] = {}  # recent camera positions -> see _position
        tri = self._verts[self._faces].astype(np.float64)
        nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-30)
        # back-face test of closed faces: the eye is in front of a face when n . eye > n . v0
        self._plane_n = nrm[: self._open_first]
        self._plane_d = np.einsum("fi,fi->f", self._plane_n, tri[: self._open_first, 0])
        table = shading.material_table(scene)[self._owner[self._faces[:, 0]]]  # (F, 3, 4)
        ids = table[:, 2, 0].astype(np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() > _MAX_INSTANCE_ID):
            raise NavFusionError(f"scene {scene.scene_id}: instance ids must lie in 0..{_MAX_INSTANCE_ID} "
                                 "for the gl backend; use backend='raycast'")
        # per face, 3 texels: (normal, kind + 16 * semantic), (color, scale), (color2, instance id);
        # a surface face (image texture / vertex colours) has its row in the surface table instead of a scale
        face_table = table.copy()
        face_table[:, 0, :3] = nrm
        face_table[:, 0, 3] = table[:, 0, 3] + 16 * table[:, 2, 1]
        face_table[:, 1] = table[:, 0]
        face_table[:, 1, 3] = table[:, 1, 3]
        face_table[:, 2, :3] = table[:, 1, :3]
        face_table[:, 2, 3] = table[:, 2, 0]
        self._surface = shading.SurfaceData(scene) if scene.has_appearance else None
        if self._surface is not None:
            row = self._surface.row_of[merged_face]
            face_table[row >= 0, 1, 3] = row[row >= 0]
        self._face_table = face_table.astype(np.float32)
        self._ray_len = np.linalg.norm(ray_directions(camera), axis=-1).astype(np.float32)  # (H, W)
        self._proj = projection(camera)
        self._ctx = None
        self.triangles_drawn = 0  # statistics: triangles submitted (after culling) since creation

    # -------------------------------------------------------------- GL setup (lazy, per process)
    def _setup(self) -> None:
        import moderngl

        try:
            ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as e:  # EGL is optional: no device or driver, raised as varied glcontext types
            raise NavFusionError(f"gl backend: cannot create a headless EGL context ({e}); "
                                 "use backend='raycast'") from None
        self._ctx = ctx
        if ctx.version_code < 430:  # glMultiDrawElementsIndirect with base instance
            self.close()
            raise NavFusionError(f"gl backend needs OpenGL 4.3, the driver offers {ctx.version_code / 100:.1f}; "
                                 "use backend='raycast'")
        B, h = self.views_per_pass, self.camera.height
        surf = self._surface is not None
        fmt = {"shading": shading.glsl_constants() + shading.GLSL_SHADING
               + (shading.GLSL_SURFACE % {"srow": _FACE_ROW // 8} if surf else ""),
               "frow": _FACE_ROW, "bands": B, "height": h,
               # scenes without image textures or vertex colours compile without the surface branch
               "albedo": _ALBEDO_SURFACE if surf else _ALBEDO_PROCEDURAL}
        self._gprog = ctx.program(vertex_shader=_GEOM_VERT % fmt, fragment_shader=_GEOM_FRAG % fmt)
        self._sprog = ctx.program(vertex_shader=_SHADE_VERT, fragment_shader=_SHADE_FRAG % fmt)
        # de-indexed vertices: (position, face id) per face corner, so no gl_PrimitiveID is needed
        F = len(self._faces)
        corners = np.zeros((3 * F, 4), np.float32)
        corners[:, :3] = self._verts[self._faces.reshape(-1)]
        corners[:, 3] = np.repeat(np.arange(F, dtype=np.int32), 3).view(np.float32)
        self._vbo = ctx.buffer(corners.tobytes())
        self._ibo = ctx.buffer(reserve=max(4, 12 * F))  # per-pass index lists, grown on demand
        self._view_ids = ctx.buffer(np.arange(MAX_VIEWS, dtype=np.int32).tobytes())
        self._cmd = ctx.buffer(reserve=20 * 2 * MAX_VIEWS)
        self._gvao = ctx.vertex_array(self._gprog, [(self._vbo, "3f 1i", "in_pos", "in_face"),
                                                    (self._view_ids, "1i /i", "in_view")],
                                      index_buffer=self._ibo, index_element_size=4)
        quad = ctx.buffer(np.array([-1, -1, 3, -1, -1, 3], np.float32).tobytes())
        self._svao = ctx.vertex_array(self._sprog, [(quad, "2f", "in_xy")])

        F_ = len(self._face_table)
        rows = max(1, (F_ + _FACE_ROW - 1) // _FACE_ROW)
        tex = np.zeros((rows * _FACE_ROW * 3, 4), np.float32)
        tex[: F_ * 3] = self._face_table.reshape(-1, 4)
        self._ftex = ctx.texture((_FACE_ROW * 3, rows), 4, tex.tobytes(), dtype="f4")
        self._ftex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._atlases = {}  # views in a pass -> (G-buffer, geometry framebuffer, shading framebuffer)
        self._ftex.use(1)
        self._sprog["u_gbuf"].value = 0
        self._sprog["u_faces"].value = 1
        if surf:
            srows = self._surface.rows().reshape(-1, 4)
            per_row = _FACE_ROW // 8 * 8  # texels per row of the surface table (8 per face)
            nrow = max(1, -(-len(srows) // per_row))
            stex = np.zeros((nrow * per_row, 4), np.float32)
            stex[: len(srows)] = srows
            self._stex = ctx.texture((per_row, nrow), 4, stex.tobytes(), dtype="f4")
            atlas = np.ascontiguousarray(self._surface.atlas)
            self._atex = ctx.texture((atlas.shape[1], atlas.shape[0]), 3, atlas.tobytes(), dtype="f1", alignment=1)
            for t in (self._stex, self._atex):
                t.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._stex.use(2)
            self._atex.use(3)
            self._sprog["u_surf"].value = 2
            self._sprog["u_atlas"].value = 3
        cam = self.camera
        self._sprog["u_intr"].value = (cam.fx, cam.fy, cam.cx, cam.cy)
        ctx.disable(moderngl.CULL_FACE)
        # the projection flips y (image row 0 at the top), which turns counter-clockwise world
        # triangles clockwise on screen: front faces are clockwise here
        ctx.front_face = "cw"
        ctx.cull_face = "back"
        ctx.enable_direct(0x3000)  # GL_CLIP_DISTANCE0
        ctx.enable_direct(0x3001)  # GL_CLIP_DISTANCE1

    def _atlas(self, k: int) -> tuple:
        """G-buffer, geometry and shading framebuffers for a pass of ``k`` views: exactly ``k`` bands
        tall, so that a pass clears whole framebuffers (llvmpipe clears a whole framebuffer per tile
        for free; a partial clear is a full-screen draw). Made on first use; the last 4 sizes are kept."""
        hit = self._atlases.pop(k, None)
        if hit is None:
            import moderngl

            if len(self._atlases) >= 4:  # release the least recently used size
                for fbo in self._atlases.pop(next(iter(self._atlases)))[1:]:
                    for att in (*fbo.color_attachments, fbo.depth_attachment):
                        if att is not None:
                            att.release()
                    fbo.release()
            ctx, size = self._ctx, (self.camera.width, self.camera.height * k)
            gbuf = ctx.texture(size, 2, dtype="f4")
            gbuf.filter = (moderngl.NEAREST, moderngl.NEAREST)
            gfbo = ctx.framebuffer(color_attachments=[gbuf], depth_attachment=ctx.depth_renderbuffer(size))
            # one target per output buffer, so each reads back without conversion
            sfbo = ctx.framebuffer(color_attachments=[ctx.texture(size, comps, dtype=dt) for _, comps, dt in _TARGETS])
            hit = (gbuf, gfbo, sfbo)
        self._atlases[k] = hit  # most recently used last
        return hit

    # -------------------------------------------------------------- rendering
    def _position(self, eye: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What a camera at ``eye`` (3,) float32 may see, whatever its heading (the 8 views of a node
        share it; the last 64 positions are cached):

        * the chunks not hidden behind full-height walls, nearest first (C',) int64;
        * (F,) bool, faces worth drawing: not the back faces of closed parts (exactly what back-face
          culling drops; the margin leaves faces seen edge-on to GL);
        * (F,) bool, faces to draw without back-face culling: open parts, and closed parts the
          camera is in or next to (from inside a box the raycaster sees its inside, and so shall we).
        """
        key = eye.tobytes()
        hit = self._seen.get(key)
        if hit is not None:
            return hit
        e = eye.astype(np.float64)
        d = self._centers - eye
        order = np.argsort(np.einsum("ci,ci->c", d, d), kind="stable")
        if self._occ is not None and self._occ.enabled:
            order = order[~self._occ.occluded(e, self._boxes)[order]]
        near = np.all((self._part_lo <= e) & (e <= self._part_hi), axis=1)
        nocull = near[self._part]
        nocull[self._open_first:] = True
        keep = np.ones(len(self._faces), bool)
        keep[: self._open_first] = (self._plane_n @ e - self._plane_d > -1e-6) | nocull[: self._open_first]
        if len(self._seen) >= 64:
            self._seen.pop(next(iter(self._seen)))
        hit = self._seen[key] = (order, keep, nocull)
        return hit

    def _index_lists(self, vp: np.ndarray, eyes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index list (M,) uint32 of the pass and its indirect draw commands (2V, 5) uint32: per view
        the faces to draw with back-face culling (first V commands) and the others (last V), nearest
        chunk first."""
        V = len(vp)
        # a box is outside when it lies wholly behind one of the 6 clip planes (w +- x, y, z >= 0):
        # test its corner farthest along the plane normal ("p-vertex")
        planes = np.concatenate([vp[:, 3:4] + vp[:, :3], vp[:, 3:4] - vp[:, :3]], axis=1).reshape(-1, 4)  # (6V, 4)
        coef = np.concatenate([planes[:, :3], np.abs(planes[:, :3])], axis=1)  # (6V, 6)
        reach = (coef @ self._center_half).reshape(V, 6, -1) >= -planes[:, 3].reshape(V, 6, 1)  # (V, 6, C)
        inside = reach.all(1)  # (V, C)
        parts = []  # per group of views sharing a position: (faces, their views, drawn without culling)
        if (eyes == eyes[0]).all():  # the 8 views of one node
            groups = [np.arange(V)]
        else:
            _, group = np.unique(eyes, axis=0, return_inverse=True)
            groups = [np.flatnonzero(group.reshape(-1) == g) for g in range(int(group.max()) + 1)]
        for vs in groups:
            order, keep, nocull = self._position(eyes[vs[0]])
            vi, ci = np.nonzero(inside[vs][:, order])  # per view, chunks nearest first
            chunks = order[ci]
            first, end = self._ranges[chunks, 0], self._ranges[chunks, 1]
            count = end - first
            faces = np.repeat(first - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
            fview = np.repeat(vs[vi], count)
            sel = keep[faces]
            faces, fview = faces[sel], fview[sel]
            parts.append((faces, fview, nocull[faces]))
        if len(parts) == 1:
            faces, fview, nc = parts[0]  # already by view, nearest chunk first
        else:
            faces, fview, nc = (np.concatenate(a) for a in zip(*parts))
            order = np.argsort(fview, kind="stable")  # by view, nearest chunk first within a view
            faces, fview, nc = faces[order], fview[order], nc[order]
        # the index list holds the faces drawn with back-face culling, view by view, then the others;
        # commands: per view, the first kind (first V commands), then the second (last V)
        cull = ~nc
        counts = np.concatenate([np.bincount(fview[cull], minlength=V), np.bincount(fview[nc], minlength=V)])
        cmds = np.zeros((2 * V, 5), np.uint32)
        cmds[:, 0] = 3 * counts
        cmds[:, 1] = 1
        cmds[:, 2] = 3 * (np.cumsum(counts) - counts)
        cmds[:, 4] = np.concatenate([np.arange(V), np.arange(V)])  # base instance = view
        faces = np.concatenate([faces[cull], faces[nc]])
        return self._corner_idx[faces].reshape(-1), cmds

    def render(self, poses: Poses, buffers: Sequence[str] = BUFFERS) -> Frames:
        buffers = check_buffers(buffers)
        if self._ctx is None:
            self._setup()
        ctx = self._ctx
        ctx.mglo.__enter__()  # make this renderer's context current (others may exist in this process)
        n, h, w = len(poses), self.camera.height, self.camera.width
        want = set(buffers)
        out = {b: empty_buffer(b, n) for b in BUFFERS}
        shapes = {"rgb": (n, h, w, 3), "normal": (n, h, w, 3)}
        dtypes = {"rgb": np.uint8, "semantic": np.uint8, "instance": np.int32}
        for b in want:
            out[b] = np.empty(shapes.get(b, (n, h, w)), dtypes.get(b, np.float32))
        reads = [(att, out[b], comps, dt) for att, (b, comps, dt) in enumerate(_TARGETS) if b in want]
        need_depth = bool(want & {"depth_z", "depth_euclidean"})
        depth = out["depth_z"] if "depth_z" in want else (np.empty((n, h, w), np.float32) if need_depth else None)
        shade = bool(reads)
        rots = rotations(poses)  # camera -> world
        w2c = np.transpose(rots, (0, 2, 1))
        view = np.zeros((n, 4, 4))
        view[:, :3, :3] = w2c
        view[:, :3, 3] = -np.einsum("nij,nj->ni", w2c, poses.positions)
        view[:, 3, 3] = 1
        vp_all = (self._proj[None] @ view).astype(np.float32)
        vp_cols = np.ascontiguousarray(np.transpose(vp_all, (0, 2, 1)))  # GLSL matrices are column-major
        rot_cols = np.ascontiguousarray(w2c, np.float32)  # column-major camera->world == row-major w2c
        eyes = poses.positions.astype(np.float32)
        B = self.views_per_pass
        gp, sp = self._gprog, self._sprog
        for s in range(0, n, B):
            e = min(n, s + B)
            k = e - s
            idx, cmds = self._index_lists(vp_all[s:e], eyes[s:e])
            gp["u_vp"].write(vp_cols[s:e].tobytes() + bytes(64 * (16 - k)))
            vpt = (0, 0, w, h * k)
            gbuf, gfbo, sfbo = self._atlas(k)
            gfbo.use()
            # the atlas is k bands tall; the viewport spans all B bands of the vertex shader's layout
            gfbo.viewport = (0, 0, w, h * B)
            gfbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)  # the whole atlas: llvmpipe's fast clear
            if len(idx):
                self.triangles_drawn += len(idx) // 3
                if idx.nbytes > self._ibo.size:
                    self._ibo.orphan(2 * idx.nbytes)
                self._ibo.write(idx.tobytes())
                self._cmd.write(cmds.tobytes())
                ctx.enable(ctx.DEPTH_TEST)
                ctx.enable(ctx.CULL_FACE)
                self._gvao.render_indirect(self._cmd, count=k)
                ctx.disable(ctx.CULL_FACE)
                self._gvao.render_indirect(self._cmd, count=k, first=k)
                ctx.disable(ctx.DEPTH_TEST)
            if depth is not None:
                gfbo.read_into(depth[s:e], viewport=vpt, components=1, attachment=0, dtype="f4")
            if shade:
                sp["u_eye"].write(eyes[s:e].tobytes() + bytes(12 * (16 - k)))
                sp["u_rot"].write(rot_cols[s:e].tobytes() + bytes(36 * (16 - k)))
                gbuf.use(0)
                sfbo.use()
                self._svao.render()
                for att, arr, comps, gltype in reads:
                    sfbo.read_into(arr[s:e], viewport=vpt, components=comps, attachment=att, dtype=gltype)
        if "depth_euclidean" in want:
            np.multiply(depth, self._ray_len, out=out["depth_euclidean"])
        return Frames(**out)

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.release()
            self._ctx = None
