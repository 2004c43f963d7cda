"""The ``gl`` backend: moderngl on a headless EGL context.

How it is fast on a CPU (Mesa llvmpipe), where per-triangle work dominates:

* all geometry lives in one vertex/index buffer, sorted into culling chunks (one instance's faces
  within one floor-plan cell) with their own bounding boxes; chunks outside a view's frustum or
  hidden behind full-height walls (``navfusion.render.occlusion``) are not drawn, and closed meshes
  are drawn with back-face culling;
* up to 16 views are drawn with one ``glMultiDrawElementsIndirect`` call into a tall atlas (one
  horizontal band per view): each view lists only the chunks inside its frustum (culled on the
  CPU), nearest first; each command's base instance selects a per-command attribute (view index,
  first face), and the vertex shader squeezes the view's clip space into its band, clipping to it
  with two clip distances;
* deferred shading: the geometry pass writes only face id (``gl_PrimitiveID`` + first face) and
  z depth, so hidden fragments cost almost nothing; one full-screen pass then computes, once per
  pixel, the procedural texture and lighting (``navfusion.render.shading``), the camera-frame
  normal (from a per-face normal table), the depths and the semantic and instance ids, into six
  render targets laid out exactly like the output buffers (rgb8, r32f, r32f, rgb32f, r8, r32i);
* each target is read back once per pass straight into the output arrays (no numpy conversion:
  strided copies in numpy cost more than the rendering at 128²).

Threads: llvmpipe rasterises with ``LP_NUM_THREADS`` threads (default: one per core), read when
the context is created. One rendering process per core with ``LP_NUM_THREADS=0`` (rasterise in the
calling thread) uses a CPU best; ``navfusion.render.bench`` sets that in its worker processes.

Limits: face ids travel as exact floats, so a scene may have up to 16.7 million triangles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from navfusion.errors import NavFusionError
from navfusion.render import shading
from navfusion.render.base import Renderer, check_buffers, empty_buffer
from navfusion.render.camera import BUFFERS, Camera, Frames, Poses
from navfusion.render.occlusion import WallOcclusion
from navfusion.scenes.scene import Scene

MAX_VIEWS = 16  # views per pass (uniform arrays are sized for 16)
_FACE_ROW = 4096  # faces per row of the face texture (3 texels each)

_GEOM_VERT = """
#version 330
uniform mat4 u_vp[16];
uniform vec3 u_eye[16];
uniform vec3 u_fwd[16];
in vec3 in_pos;
in ivec2 in_cmd;  // per draw command: (view, first face of the command)
out float v_depth;
flat out int v_face0;
void main() {
    int view = in_cmd.x;
    vec4 c = u_vp[view] * vec4(in_pos, 1.0);
    // each view owns one horizontal band of the atlas: squeeze y into the band, clip to it
    gl_ClipDistance[0] = c.w + c.y;
    gl_ClipDistance[1] = c.w - c.y;
    gl_Position = vec4(c.x, (c.y + c.w * float(2 * view + 1 - %(bands)d)) / float(%(bands)d), c.z, c.w);
    v_depth = dot(in_pos - u_eye[view], u_fwd[view]);
    v_face0 = in_cmd.y;
}
"""

_GEOM_FRAG = """
#version 330
in float v_depth;
flat in int v_face0;
layout(location = 0) out vec2 o_face_depth;  // (face + 1 as an exact float, z depth)
void main() {
    o_face_depth = vec2(float(v_face0 + gl_PrimitiveID + 1), v_depth);
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
uniform int u_height;
uniform sampler2D u_gbuf;   // (face + 1, z depth)
uniform sampler2D u_faces;  // 3 texels per face: (normal, kind + 8 * semantic), (color, scale), (color2, id)
layout(location = 0) out vec3 o_rgb;  // locations follow BUFFERS
layout(location = 1) out float o_depth_z;
layout(location = 2) out float o_depth_e;
layout(location = 3) out vec3 o_normal;
layout(location = 4) out float o_sem;
layout(location = 5) out int o_inst;
%(shading)s
void main() {
    ivec2 px = ivec2(gl_FragCoord.xy);
    vec2 g = texelFetch(u_gbuf, px, 0).rg;
    int face = int(g.x + 0.5) - 1;
    if (face < 0) {
        o_rgb = vec3(0.0); o_sem = 0.0; o_normal = vec3(0.0); o_depth_z = 0.0; o_depth_e = 0.0; o_inst = -1;
        return;
    }
    float dz = g.y;
    int view = px.y / u_height;
    float row = gl_FragCoord.y - float(view * u_height);
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
    float t = nf_pattern(kind_sem & 7, world, n, f1.w);
    o_rgb = nf_shade(mix(f1.rgb, f2.rgb, t), n, to_eye, dist);
    o_sem = float(kind_sem >> 3) / 255.0;
    o_normal = transpose(rot) * n;
    o_depth_z = dz;
    o_depth_e = dz * length(ray);
    o_inst = int(f2.w + 0.5);
}
"""


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


def _chunk_scene(scene: Scene, chunk_size: float, per_instance: bool = True, cull_closed: bool = True):
    """Merge all instances and split the faces into culling chunks.

    Faces are sorted by floor-plan cell (``chunk_size`` metres square) and, within a cell, by
    instance; a chunk is one instance's faces in one cell (or the whole cell when
    ``per_instance=False``). Chunks of a cell are adjacent in the index buffer, so runs of visible
    chunks collapse into one draw command (llvmpipe pays per command as well as per triangle).
    With ``cull_closed``, the faces of closed meshes come first (wound outwards), so they can be
    drawn with back-face culling: from outside a closed mesh its back faces are never visible.

    Returns vertices (V, 3) float32, per-vertex instance index (V,) int32, faces (F, 3) int32 sorted
    by chunk, chunk face ranges (C, 2) int64 ``[first, end)``, chunk boxes (C, 2, 3) float32 and
    the number of leading chunks that belong to closed meshes.
    """
    verts, faces, owner_f = scene.merged()
    owner_v = np.zeros(len(verts), np.int32)
    owner_v[faces.reshape(-1)] = np.repeat(owner_f, 3)
    orient = np.array([closed_orientation(i.vertices, np.asarray(i.faces)) if cull_closed else 0
                       for i in scene.instances], np.int64)
    flip = orient[owner_f] < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, [0, 2, 1]]
    is_open = (orient[owner_f] == 0).astype(np.int64)
    tri = verts[faces]  # (F, 3, 3)
    cell = np.floor(tri.mean(1)[:, :2] / chunk_size).astype(np.int64)
    _, cell_key = np.unique(cell, axis=0, return_inverse=True)
    cell_key = cell_key.reshape(-1).astype(np.int64)
    n_inst = len(scene.instances) + 1
    key = (is_open * (int(cell_key.max()) + 1) + cell_key) * n_inst + (owner_f if per_instance else 0)
    order = np.argsort(key, kind="stable")
    faces, tri, key, is_open = faces[order], tri[order], key[order], is_open[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(faces)]
    boxes = np.stack([np.stack([tri[a:b].reshape(-1, 3).min(0), tri[a:b].reshape(-1, 3).max(0)])
                      for a, b in zip(starts, ends)])
    n_closed = int((is_open[starts] == 0).sum())
    return (verts, owner_v, faces.astype(np.int32), np.stack([starts, ends], 1).astype(np.int64),
            boxes.astype(np.float32), n_closed)


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
        per_instance: cull per instance within a cell (else per cell).
        occlusion: also cull chunks hidden behind full-height walls (``navfusion.render.occlusion``).
        cull_back_faces: draw closed meshes with back-face culling (a camera inside a closed mesh
            then sees out of it, where the raycaster sees its inside).
    """

    backend = "gl"

    def __init__(self, scene: Scene, camera: Camera, max_views_per_pass: int = MAX_VIEWS,
                 chunk_size: float = 2.5, per_instance: bool = True, occlusion: bool = True,
                 cull_back_faces: bool = True) -> None:
        super().__init__(scene, camera)
        if not 1 <= int(max_views_per_pass) <= MAX_VIEWS:
            raise NavFusionError(f"max_views_per_pass={max_views_per_pass}: must be in 1..{MAX_VIEWS}")
        # the atlas stays within GL's 16384-pixel limit and ~2 Mpixels (~80 MB of render targets)
        self.views_per_pass = int(min(max_views_per_pass, max(1, 16384 // camera.height),
                                      max(1, (1 << 21) // (camera.width * camera.height))))
        self._verts, self._owner, self._faces, self._ranges, self._boxes, self._n_closed = _chunk_scene(
            scene, chunk_size, per_instance, cull_back_faces)
        # faces from here on belong to open meshes (drawn without back-face culling)
        self._open_first = int(self._ranges[self._n_closed, 0]) if self._n_closed < len(self._ranges) \
            else len(self._faces)
        lo, hi = self._boxes[:, 0], self._boxes[:, 1]
        self._centers = 0.5 * (lo + hi)
        self._half = 0.5 * (hi - lo)
        self._occ = WallOcclusion(self._verts, self._faces, scene.floor_height, scene.ceiling_height) \
            if occlusion else None
        self._hidden: dict[bytes, np.ndarray] = {}  # recent camera positions -> hidden chunks
        tri = self._verts[self._faces].astype(np.float64)
        nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-30)
        # per face, 3 texels: (normal, kind + 8 * semantic), (color, scale), (color2, instance id)
        table = shading.material_table(scene)[self._owner[self._faces[:, 0]]]  # (F, 3, 4)
        face_table = table.copy()
        face_table[:, 0, :3] = nrm
        face_table[:, 0, 3] = table[:, 0, 3] + 8 * table[:, 2, 1]
        face_table[:, 1] = table[:, 0]
        face_table[:, 1, 3] = table[:, 1, 3]
        face_table[:, 2, :3] = table[:, 1, :3]
        face_table[:, 2, 3] = table[:, 2, 0]
        self._face_table = face_table.astype(np.float32)
        self._proj = projection(camera)
        self._ctx = None
        self.triangles_drawn = 0  # statistics: triangles submitted (after culling) since creation

    # -------------------------------------------------------------- GL setup (lazy, per process)
    def _setup(self) -> None:
        import moderngl

        try:
            ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as e:
            raise NavFusionError(f"gl backend: cannot create a headless EGL context ({e}); "
                                 "use backend='raycast'") from None
        self._ctx = ctx
        if ctx.version_code < 430:  # glMultiDrawElementsIndirect with base instance
            self.close()
            raise NavFusionError(f"gl backend needs OpenGL 4.3, the driver offers {ctx.version_code / 100:.1f}; "
                                 "use backend='raycast'")
        B, w, h = self.views_per_pass, self.camera.width, self.camera.height
        fmt = {"shading": shading.glsl_constants() + shading.GLSL_SHADING, "frow": _FACE_ROW,
               "bands": B}
        self._gprog = ctx.program(vertex_shader=_GEOM_VERT % fmt, fragment_shader=_GEOM_FRAG % fmt)
        self._sprog = ctx.program(vertex_shader=_SHADE_VERT, fragment_shader=_SHADE_FRAG % fmt)
        self._vbo = ctx.buffer(self._verts.astype(np.float32).tobytes())
        self._ibo = ctx.buffer(self._faces.astype(np.uint32).tobytes())
        self._cmd_attr = ctx.buffer(reserve=8 * B * max(1, len(self._ranges)))
        self._cmd = ctx.buffer(reserve=20 * B * max(1, len(self._ranges)))
        self._gvao = ctx.vertex_array(self._gprog, [(self._vbo, "3f", "in_pos"), (self._cmd_attr, "2i /i", "in_cmd")],
                                      index_buffer=self._ibo, index_element_size=4)
        quad = ctx.buffer(np.array([-1, -1, 3, -1, -1, 3], np.float32).tobytes())
        self._svao = ctx.vertex_array(self._sprog, [(quad, "2f", "in_xy")])

        def table_texture(table: np.ndarray, per_row: int, texels: int):
            n = len(table)
            rows = max(1, (n + per_row - 1) // per_row)
            tex = np.zeros((rows * per_row * texels, 4), np.float32)
            tex[: n * texels] = table.reshape(-1, 4)
            t = ctx.texture((per_row * texels, rows), 4, tex.tobytes(), dtype="f4")
            t.filter = (moderngl.NEAREST, moderngl.NEAREST)
            return t

        self._ftex = table_texture(self._face_table, _FACE_ROW, 3)
        size = (w, h * B)
        self._gbuf = ctx.texture(size, 2, dtype="f4")
        self._gbuf.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._gfbo = ctx.framebuffer(color_attachments=[self._gbuf],
                                     depth_attachment=ctx.depth_renderbuffer(size))
        # one target per output buffer, in BUFFERS order, so each reads back without conversion
        self._targets = [ctx.texture(size, 3, dtype="f1"), ctx.texture(size, 1, dtype="f4"),
                         ctx.texture(size, 1, dtype="f4"), ctx.texture(size, 3, dtype="f4"),
                         ctx.texture(size, 1, dtype="f1"), ctx.texture(size, 1, dtype="i4")]
        self._sfbo = ctx.framebuffer(color_attachments=self._targets)
        for unit, (name, tex) in enumerate([("u_gbuf", self._gbuf),
                                            ("u_faces", self._ftex)]):
            tex.use(unit)
            self._sprog[name].value = unit
        cam = self.camera
        self._sprog["u_intr"].value = (cam.fx, cam.fy, cam.cx, cam.cy)
        self._sprog["u_height"].value = h
        ctx.disable(moderngl.CULL_FACE)
        # the projection flips y (image row 0 at the top), which turns counter-clockwise world
        # triangles clockwise on screen: front faces are clockwise here
        ctx.front_face = "cw"
        ctx.cull_face = "back"
        ctx.enable_direct(0x3000)  # GL_CLIP_DISTANCE0
        ctx.enable_direct(0x3001)  # GL_CLIP_DISTANCE1

    # -------------------------------------------------------------- rendering
    def _commands(self, vp: np.ndarray, eyes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indirect draw commands (M, 5) uint32 and their per-command attribute (M, 2) int32
        (view, first face): the chunks inside each view's frustum and not behind walls, nearest
        first so that the depth test rejects hidden fragments early; the commands of closed meshes
        come first (``cmds[:, 2] < 3 * first face of the first open chunk``)."""
        # a box is outside when it lies wholly behind one of the 6 clip planes (w +- x, y, z >= 0):
        # test its corner farthest along the plane normal ("p-vertex")
        planes = np.concatenate([vp[:, 3:4] + vp[:, :3], vp[:, 3:4] - vp[:, :3]], axis=1)  # (V, 6, 4)
        normal = planes[..., :3]
        reach = normal @ self._centers.T + np.abs(normal) @ self._half.T + planes[..., 3:4]  # (V, 6, C)
        out = (reach < 0).any(1)
        if self._occ is not None and self._occ.enabled:
            # the 8 views of a node share their position: one horizon per distinct position
            for v, e in enumerate(eyes):
                key = e.tobytes()
                hidden = self._hidden.get(key)
                if hidden is None:
                    if len(self._hidden) >= 64:
                        self._hidden.pop(next(iter(self._hidden)))
                    hidden = self._hidden[key] = self._occ.occluded(e.astype(np.float64), self._boxes)
                out[v] |= hidden
        d = self._centers[None] - eyes[:, None]
        dist = np.einsum("vci,vci->vc", d, d)
        dist[out] = np.inf
        order = np.argsort(dist, axis=1)
        keep = np.take_along_axis(~out, order, axis=1)
        views = np.broadcast_to(np.arange(len(vp))[:, None], order.shape)[keep]
        chunks = order[keep]
        # closed meshes first (drawn with back-face culling), front-to-back order kept within each part
        part = np.argsort(chunks >= self._n_closed, kind="stable")
        views, chunks = views[part], chunks[part]
        first = self._ranges[chunks, 0]
        cmds = np.zeros((len(chunks), 5), np.uint32)
        cmds[:, 0] = (self._ranges[chunks, 1] - first) * 3
        cmds[:, 1] = 1
        cmds[:, 2] = first * 3
        cmds[:, 4] = np.arange(len(chunks))
        return cmds, np.stack([views, first], 1).astype(np.int32)

    def render(self, poses: Poses, buffers: Sequence[str] = BUFFERS) -> Frames:
        buffers = check_buffers(buffers)
        if self._ctx is None:
            self._setup()
        n, h, w = len(poses), self.camera.height, self.camera.width
        out = {b: empty_buffer(b, n) for b in BUFFERS}
        shapes = {"rgb": ((n, h, w, 3), np.uint8, 3, "f1"), "depth_z": ((n, h, w), np.float32, 1, "f4"),
                  "depth_euclidean": ((n, h, w), np.float32, 1, "f4"), "normal": ((n, h, w, 3), np.float32, 3, "f4"),
                  "semantic": ((n, h, w), np.uint8, 1, "f1"), "instance": ((n, h, w), np.int32, 1, "i4")}
        reads = []  # (attachment, array, components, dtype)
        for b in dict.fromkeys(buffers):
            shape, dtype, comps, gltype = shapes[b]
            out[b] = np.empty(shape, dtype)
            reads.append((BUFFERS.index(b), out[b], comps, gltype))
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
        fwds = np.ascontiguousarray(-rots[:, :, 2], np.float32)
        B, ctx = self.views_per_pass, self._ctx
        gp, sp = self._gprog, self._sprog
        for s in range(0, n, B):
            e = min(n, s + B)
            k = e - s
            cmds, attr = self._commands(vp_all[s:e], eyes[s:e])
            gp["u_vp"].write(vp_cols[s:e].tobytes() + bytes(64 * (16 - k)))
            pad3 = bytes(12 * (16 - k))
            gp["u_eye"].write(eyes[s:e].tobytes() + pad3)
            gp["u_fwd"].write(fwds[s:e].tobytes() + pad3)
            sp["u_eye"].write(eyes[s:e].tobytes() + pad3)
            sp["u_rot"].write(rot_cols[s:e].tobytes() + bytes(36 * (16 - k)))
            vpt = (0, 0, w, h * k)
            self._gfbo.use()
            self._gfbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=vpt)  # only the bands in use
            if len(cmds):
                self.triangles_drawn += int(cmds[:, 0].sum() // 3)
                if cmds.nbytes > self._cmd.size:
                    self._cmd.orphan(cmds.nbytes)
                    self._cmd_attr.orphan(attr.nbytes)
                self._cmd.write(cmds.tobytes())
                self._cmd_attr.write(attr.tobytes())
                ctx.enable(ctx.DEPTH_TEST)
                n_closed = int(np.count_nonzero(cmds[:, 2] < self._open_first * 3))
                if n_closed:
                    ctx.enable(ctx.CULL_FACE)
                    self._gvao.render_indirect(self._cmd, count=n_closed)
                    ctx.disable(ctx.CULL_FACE)
                if n_closed < len(cmds):
                    self._gvao.render_indirect(self._cmd, count=len(cmds) - n_closed, first=n_closed)
            self._sfbo.use()
            self._sfbo.viewport = vpt
            ctx.disable(ctx.DEPTH_TEST)
            self._svao.render()
            for att, arr, comps, gltype in reads:
                self._sfbo.read_into(arr[s:e], viewport=vpt, components=comps, attachment=att, dtype=gltype)
        return Frames(**out)

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.release()
            self._ctx = None
