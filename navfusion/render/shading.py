"""Procedural textures and lighting shared by both renderer backends.

Each function exists twice, side by side: as GLSL (``GLSL_SHADING``, pasted into the ``gl``
fragment shader) and as numpy (used by ``raycast``). Keep the two in step when editing; they use
the same integer hash, so colours match closely (exact RGB equality is not required — depth, ids
and normals are what the backends must agree on).

A material is described per instance by two vec4s: ``(color.rgb, kind)`` and ``(color2.rgb, scale)``;
``kind`` is the index in ``navfusion.scenes.scene.TEXTURE_KINDS``. Patterns are solid textures of
the world position, read on the plane of the dominant axis of the surface normal.
"""

from __future__ import annotations

import numpy as np

from navfusion.scenes.scene import TEXTURE_KINDS, Scene

#: Direction towards the key light (world frame, z up), normalised.
LIGHT_DIR = np.array([0.35, 0.55, 0.76], np.float32) / np.linalg.norm([0.35, 0.55, 0.76])
AMBIENT, DIFFUSE, HEADLIGHT, FALLOFF = 0.30, 0.35, 0.40, 0.015

GLSL_SHADING = """
uint nf_hash(ivec3 c) {
    uint h = uint(c.x) * 73856093u ^ uint(c.y) * 19349663u ^ uint(c.z) * 83492791u;
    h = (h ^ (h >> 13u)) * 1540483477u;
    h ^= h >> 15u;
    return h;
}
float nf_rand(ivec3 c) { return float(nf_hash(c) >> 8u) * (1.0 / 16777216.0); }
// 2D value noise (4 hashes): patterns live on the surface plane, so 3D noise would only cost more
float nf_noise2(vec2 p) {
    vec2 fl = floor(p);
    ivec2 i = ivec2(fl);
    vec2 f = p - fl;
    vec2 u = f * f * (3.0 - 2.0 * f);
    float a = mix(nf_rand(ivec3(i, 0)), nf_rand(ivec3(i + ivec2(1, 0), 0)), u.x);
    float b = mix(nf_rand(ivec3(i + ivec2(0, 1), 0)), nf_rand(ivec3(i + ivec2(1, 1), 0)), u.x);
    return mix(a, b, u.y);
}
// surface coordinates (a, b in the plane, c along the dominant normal axis)
vec3 nf_plane(vec3 p, vec3 n) {
    vec3 an = abs(n);
    if (an.z >= an.x && an.z >= an.y) return p.xyz;
    if (an.x >= an.y) return p.yzx;
    return p.xzy;
}
// triangle wave of period 1 in [-1, 1]: a cheap stand-in for sin
float nf_wave(float x) { return 1.0 - 4.0 * abs(fract(x) - 0.5); }
// One branch per group of kinds: a 4x4 block of pixels mostly shows one surface, and llvmpipe skips
// a branch no pixel of the block takes (measured 4-7 % faster per view than evaluating every kind
// branch-free; the values are the same to the bit).
float nf_pattern(int kind, vec3 p, vec3 n, float scale) {
    if (kind == 0) return 0.0;
    vec3 q = nf_plane(p, n) / scale;
    if (kind == 2 || kind == 7) {
        float cell = nf_rand(kind == 2 ? ivec3(floor(q.xy), 7) : ivec3(floor(q * 4.0)));
        if (kind == 7) return cell;  // carpet speckle
        vec2 g = fract(q.xy);
        float e = min(min(g.x, g.y), min(1.0 - g.x, 1.0 - g.y));
        return e < 0.04 ? 1.0 : 0.25 * cell;  // tiles
    }
    vec2 f = kind == 1 ? vec2(0.15, 2.0) : (kind == 3 ? vec2(0.25) : (kind == 6 ? vec2(0.05, 12.0) : vec2(1.0)));
    // the offset along the normal axis decorrelates parallel surfaces (e.g. two faces of a board)
    float nz = nf_noise2(q.xy * f + vec2(0.37, 0.71) * q.z);
    if (kind == 1) return smoothstep(0.2, 0.8, abs(fract(q.y + 0.6 * nz) * 2.0 - 1.0));  // wood
    if (kind == 3) return clamp(0.5 + 0.3 * nf_wave(q.x) * nf_wave(q.y) + 0.3 * (nz - 0.5), 0.0, 1.0);  // fabric
    if (kind == 5) return 0.5 + 0.5 * nf_wave((3.0 * (q.x + q.y) + 5.0 * nz) * 0.15915494);  // marble
    return nz;  // wall blotches (4), brushed metal streaks (6)
}
vec3 nf_shade(vec3 albedo, vec3 n, vec3 to_eye, float dist) {
    float diffuse = max(dot(n, LIGHT_DIR), 0.0);
    float head = abs(dot(n, to_eye));
    float light = (AMBIENT + DIFFUSE * diffuse + HEADLIGHT * head) / (1.0 + FALLOFF * dist * dist);
    return clamp(albedo * light * 1.15, 0.0, 1.0);
}
"""


def glsl_constants() -> str:
    """GLSL ``const`` declarations for the lighting constants (prepended to ``GLSL_SHADING``)."""
    lx, ly, lz = (float(v) for v in LIGHT_DIR)
    return (f"const vec3 LIGHT_DIR = vec3({lx:.8f}, {ly:.8f}, {lz:.8f});\n"
            f"const float AMBIENT = {AMBIENT:.6f};\nconst float DIFFUSE = {DIFFUSE:.6f};\n"
            f"const float HEADLIGHT = {HEADLIGHT:.6f};\nconst float FALLOFF = {FALLOFF:.6f};\n")


# ------------------------------------------------------------------------------- numpy twins

_P = (np.uint32(73856093), np.uint32(19349663), np.uint32(83492791))


def _cells(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """floor(p) as uint32 bit patterns (two's complement, as GLSL's ``uint(int)``) and fract(p)."""
    fl = np.floor(p)
    return fl.astype(np.int32).view(np.uint32), (p - fl).astype(np.float32)


def _mix_hash(h: np.ndarray) -> np.ndarray:
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1540483477)
    return h ^ (h >> np.uint32(15))


def _hash(c: np.ndarray) -> np.ndarray:
    """(..., 3) uint32 cell -> (...,) uint32, the same bits as ``nf_hash``."""
    return _mix_hash((c[..., 0] * _P[0]) ^ (c[..., 1] * _P[1]) ^ (c[..., 2] * _P[2]))


def _to_unit(h: np.ndarray) -> np.ndarray:
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def _rand(c: np.ndarray) -> np.ndarray:
    """Hash of integer-valued float cells (..., 3) -> [0, 1)."""
    return _to_unit(_hash(np.asarray(c).astype(np.int32).view(np.uint32)))


def _plane(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(M, 3) surface coordinates as ``nf_plane``: (a, b) in the plane of the dominant normal axis, c along it."""
    an = np.abs(n)
    zdom = (an[:, 2] >= an[:, 0]) & (an[:, 2] >= an[:, 1])
    xdom = ~zdom & (an[:, 0] >= an[:, 1])
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    return np.stack([np.where(xdom, y, x), np.where(zdom, y, z), np.where(zdom, z, np.where(xdom, x, y))], 1)


def _wave(x: np.ndarray) -> np.ndarray:
    """Triangle wave of period 1 in [-1, 1] (``nf_wave``)."""
    return 1.0 - 4.0 * np.abs(x - np.floor(x) - 0.5)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


_NOISE_FREQ = {1: (0.15, 2.0), 3: (0.25, 0.25), 6: (0.05, 12.0)}


def _noise2(p: np.ndarray) -> np.ndarray:
    """2D value noise of (M, 2) float32 points, as ``nf_noise2``."""
    i, f = _cells(p)
    one = np.uint32(1)
    hx = (i[:, 0] * _P[0], (i[:, 0] + one) * _P[0])
    hy = (i[:, 1] * _P[1], (i[:, 1] + one) * _P[1])
    u = f * f * (np.float32(3.0) - np.float32(2.0) * f)
    ux, uy = u[:, 0], u[:, 1]

    def r(dx, dy):
        return _to_unit(_mix_hash(hx[dx] ^ hy[dy]))  # z = 0: its hash term is 0

    a = r(0, 0) + (r(1, 0) - r(0, 0)) * ux
    b = r(0, 1) + (r(1, 1) - r(0, 1)) * ux
    return a + (b - a) * uy


def pattern(kind: np.ndarray, p: np.ndarray, n: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Mix factor between ``color`` and ``color2`` (numpy twin of ``nf_pattern``).

    Args:
        kind: (M,) int texture kind index; p: (M, 3) world positions; n: (M, 3) normals; scale: (M,).
    Returns:
        (M,) float32 in [0, 1].
    """
    q = (_plane(p.astype(np.float32), n) / scale[:, None]).astype(np.float32)
    t = np.zeros(len(q), np.float32)
    present = np.bincount(kind, minlength=len(TEXTURE_KINDS))
    for k in np.flatnonzero(present[1:len(TEXTURE_KINDS)]) + 1:  # surface faces (SURFACE_KIND) have no pattern
        m = kind == k
        qm = q[m]
        if k in (1, 3, 4, 5, 6):
            nz = _noise2(qm[:, :2] * np.float32(_NOISE_FREQ.get(int(k), (1.0, 1.0)))
                         + np.float32([0.37, 0.71]) * qm[:, 2:3])
        if k == 1:
            r = qm[:, 1] + np.float32(0.6) * nz
            t[m] = _smoothstep(0.2, 0.8, np.abs((r - np.floor(r)) * 2 - 1))
        elif k == 2:
            g = qm[:, :2] - np.floor(qm[:, :2])
            e = np.minimum(np.minimum(g[:, 0], g[:, 1]), np.minimum(1 - g[:, 0], 1 - g[:, 1]))
            cell = np.c_[np.floor(qm[:, :2]), np.full(len(qm), 7)]
            t[m] = np.where(e < 0.04, 1.0, 0.25 * _rand(cell))
        elif k == 3:
            t[m] = np.clip(0.5 + 0.3 * _wave(qm[:, 0]) * _wave(qm[:, 1]) + 0.3 * (nz - 0.5), 0, 1)
        elif k in (4, 6):
            t[m] = nz
        elif k == 5:
            t[m] = 0.5 + 0.5 * _wave((3.0 * (qm[:, 0] + qm[:, 1]) + 5.0 * nz) * np.float32(0.15915494))
        elif k == 7:
            t[m] = _rand(np.floor(qm * np.float32(4.0)))
    return t


def shade(albedo: np.ndarray, n: np.ndarray, to_eye: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Lit colour in [0, 1]: ambient + key light + headlight, with distance falloff. Shapes (M, 3)/(M,)."""
    diffuse = np.maximum(n @ LIGHT_DIR, 0.0)
    head = np.abs(np.einsum("ij,ij->i", n, to_eye))
    light = (AMBIENT + DIFFUSE * diffuse + HEADLIGHT * head) / (1.0 + FALLOFF * dist * dist)
    return np.clip(albedo * (light * 1.15)[:, None], 0.0, 1.0)


# ------------------------------------------------------------------------------- material table

def material_table(scene: Scene) -> np.ndarray:
    """Per-instance material parameters, (I, 3, 4) float32 in ``scene.instances`` order:
    ``[color.rgb, kind]``, ``[color2.rgb, scale]``, ``[instance id, semantic id, 0, 0]``."""
    from navfusion.errors import NavFusionError

    table = np.zeros((len(scene.instances), 3, 4), np.float32)
    for k, inst in enumerate(scene.instances):
        mat = scene.materials.get(inst.material)
        if mat is None:
            raise NavFusionError(f"scene {scene.scene_id}: instance {inst.name!r} uses unknown material "
                                 f"{inst.material!r}")
        kind = TEXTURE_KINDS.index(mat.texture) if mat.texture in TEXTURE_KINDS else 0
        if mat.image or inst.colors is not None:
            kind = len(TEXTURE_KINDS)  # SURFACE_KIND: image and/or vertex colours, no procedural pattern
        table[k, 0] = (*mat.color, kind)
        table[k, 1] = (*mat.color2, max(float(mat.scale), 1e-3))
        table[k, 2, :2] = (inst.id, inst.semantic_id)
    return table


def albedo_and_shade(table: np.ndarray, owner: np.ndarray, p: np.ndarray, n: np.ndarray,
                     eye: np.ndarray, surface: tuple | None = None) -> np.ndarray:
    """numpy twin of the gl shading pass: (M,) instance indices, (M, 3) hit points and world normals
    facing the camera, eye (3,) or (M, 3) camera centres -> (M, 3) float32 colour in [0, 1].
    ``surface``: ``(SurfaceData, faces (M,), bu (M,), bv (M,))`` (merged face indices and the
    barycentric weights of corners b and c) when the scene has image textures or vertex colours."""
    m = table[owner]
    p = p.astype(np.float32, copy=False)
    n = n.astype(np.float32, copy=False)
    kind = m[:, 0, 3].astype(np.int64)
    t = pattern(kind, p, n, m[:, 1, 3])
    albedo = m[:, 0, :3] + (m[:, 1, :3] - m[:, 0, :3]) * t[:, None]
    if surface is not None:
        data, faces, bu, bv = surface
        s = kind == SURFACE_KIND
        if s.any():
            albedo[s] = data.albedo(faces[s], bu[s], bv[s], m[s, 0, :3])
    d = (np.broadcast_to(eye, p.shape) - p).astype(np.float32)
    dist = np.sqrt(np.einsum("ij,ij->i", d, d))
    to_eye = d / np.maximum(dist, np.float32(1e-9))[:, None]
    return shade(albedo, n, to_eye, dist)


# ------------------------------------------------------------------------------- image textures and vertex colours

#: ``kind`` of a surface whose albedo comes from an image texture and/or vertex colours (one past the
#: procedural kinds); ``material color * image(uv) * vertex colour``, each factor present or 1.
SURFACE_KIND = len(TEXTURE_KINDS)
#: Longest side of a texture in the atlas both backends sample (larger images are downscaled once,
#: with a box filter): agent views are 64-256 pixels wide, and llvmpipe textures are at most 16384 wide.
MAX_TEXTURE_SIDE = 1024
_MAX_ATLAS = 16384

GLSL_SURFACE = """
// image textures and vertex colours (compiled in only for scenes that have them)
uniform sampler2D u_atlas;   // every texture of the scene, packed; row 0 = top row of each image
uniform sampler2D u_surf;    // 8 texels per surface face, see navfusion.render.shading.surface_rows
vec3 nf_atlas(ivec2 p) { return texelFetch(u_atlas, p, 0).rgb; }
// bilinear, repeating outside [0, 1]; uv origin at the image's bottom-left
vec3 nf_sample(vec4 rect, vec2 uv) {
    vec2 q = vec2(uv.x - floor(uv.x), 1.0 - (uv.y - floor(uv.y))) * rect.zw - 0.5;
    vec2 fl = floor(q);
    vec2 f = q - fl;
    int w = int(rect.z), h = int(rect.w);
    int x0 = int(fl.x), y0 = int(fl.y);
    int x1 = x0 + 1 >= w ? 0 : x0 + 1, y1 = y0 + 1 >= h ? 0 : y0 + 1;
    x0 = x0 < 0 ? w - 1 : (x0 >= w ? 0 : x0);
    y0 = y0 < 0 ? h - 1 : (y0 >= h ? 0 : y0);
    x1 = x1 < 0 ? w - 1 : x1;
    y1 = y1 < 0 ? h - 1 : y1;
    ivec2 o = ivec2(rect.xy);
    vec3 a = nf_atlas(o + ivec2(x0, y0)), b = nf_atlas(o + ivec2(x1, y0));
    vec3 c = nf_atlas(o + ivec2(x0, y1)), d = nf_atlas(o + ivec2(x1, y1));
    vec3 top = a + (b - a) * f.x;
    vec3 bot = c + (d - c) * f.x;
    return top + (bot - top) * f.y;
}
vec3 nf_surface(int row, vec3 p, vec3 factor) {
    ivec2 base = ivec2(8 * (row %% %(srow)d), row / %(srow)d);
    vec4 t0 = texelFetch(u_surf, base, 0), t1 = texelFetch(u_surf, base + ivec2(1, 0), 0);
    vec4 t2 = texelFetch(u_surf, base + ivec2(2, 0), 0), t3 = texelFetch(u_surf, base + ivec2(3, 0), 0);
    vec4 t4 = texelFetch(u_surf, base + ivec2(4, 0), 0);
    // barycentric coordinates of the shaded point (the raycaster gets the same from Embree)
    vec3 e0 = t1.xyz - t0.xyz, e1 = t2.xyz - t0.xyz, e2 = p - t0.xyz;
    float d00 = dot(e0, e0), d01 = dot(e0, e1), d11 = dot(e1, e1), d20 = dot(e2, e0), d21 = dot(e2, e1);
    float den = d00 * d11 - d01 * d01;
    float bu = den != 0.0 ? (d11 * d20 - d01 * d21) / den : 0.0;
    float bv = den != 0.0 ? (d00 * d21 - d01 * d20) / den : 0.0;
    float ba = 1.0 - bu - bv;
    vec3 albedo = factor;
    if (t4.w > 0.5) {
        vec2 uv = ba * t3.xy + bu * t3.zw + bv * t4.xy;
        albedo *= nf_sample(vec4(t0.w, t1.w, t2.w, t4.z), uv);
    }
    if (t4.w < 0.5 || t4.w > 1.5) {  // 0: colours only, 2: image and colours
        vec3 ca = texelFetch(u_surf, base + ivec2(5, 0), 0).rgb;
        vec3 cb = texelFetch(u_surf, base + ivec2(6, 0), 0).rgb;
        vec3 cc = texelFetch(u_surf, base + ivec2(7, 0), 0).rgb;
        albedo *= ba * ca + bu * cb + bv * cc;
    }
    return albedo;
}
"""


def _pack_shelves(sizes: list[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int]:
    """Shelf packing of (w, h) rectangles, tallest first, into rows of ``width``: offsets and height."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][1], -sizes[i][0], i))
    out: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    x = y = shelf = 0
    for i in order:
        w, h = sizes[i]
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        out[i] = (x, y)
        x += w
        shelf = max(shelf, h)
    return out, y + shelf


def _fit(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` scaled down (box filter, aspect kept) so that its longest side is at most ``side``."""
    h, w = img.shape[:2]
    if max(h, w) <= side:
        return img
    from PIL import Image

    k = side / max(h, w)
    return np.asarray(Image.fromarray(img).resize((max(1, round(w * k)), max(1, round(h * k))), Image.BOX))


def texture_atlas(scene: Scene, max_side: int = MAX_TEXTURE_SIDE) -> tuple[np.ndarray, dict[str, tuple[int, ...]]]:
    """Every texture of ``scene`` packed into one (H, W, 3) uint8 image, and each texture's
    ``(x0, y0, w, h)`` in it. Both backends sample this atlas, so they see the same texels."""
    names = sorted(scene.textures)
    if not names:
        return np.zeros((1, 1, 3), np.uint8), {}
    side = int(max_side)
    while True:
        imgs = [_fit(np.asarray(scene.textures[n], np.uint8), side) for n in names]
        sizes = [(im.shape[1], im.shape[0]) for im in imgs]
        area = sum(w * h for w, h in sizes)
        width = min(_MAX_ATLAS, max(max(w for w, _ in sizes), int(np.ceil(np.sqrt(area) / 64) * 64)))
        offsets, height = _pack_shelves(sizes, width)
        if height <= _MAX_ATLAS:
            break
        side //= 2  # too many large textures for one atlas: halve them all
    atlas = np.zeros((height, width, 3), np.uint8)
    rects = {}
    for n, im, (x, y) in zip(names, imgs, offsets):
        atlas[y:y + im.shape[0], x:x + im.shape[1]] = im
        rects[n] = (x, y, im.shape[1], im.shape[0])
    return atlas, rects


class SurfaceData:
    """Per-face appearance of the image-textured and vertex-coloured faces of a scene, in
    :meth:`Scene.merged` face order, shared by both backends.

    Attributes:
        faces: (S,) indices of the surface faces among all merged faces.
        corners: (S, 3, 3) float32 vertex positions; uv (S, 3, 2) float32; colors (S, 3, 3) float32 in [0, 1].
        rect: (S, 4) float32 atlas rectangle (x0, y0, w, h) of the face's image (zeros without one).
        mode: (S,) float32: 0 vertex colours only, 1 image only, 2 both.
        atlas: (H, W, 3) uint8 packed textures.
    """

    def __init__(self, scene: Scene, max_side: int = MAX_TEXTURE_SIDE) -> None:
        verts, faces, owner = scene.merged()
        uv, col = scene.merged_appearance()
        img_of = np.array([scene.materials[i.material].image for i in scene.instances], object)
        has_col = np.array([i.colors is not None for i in scene.instances], bool)
        has_img = np.array([bool(s) for s in img_of], bool)
        is_surf = (has_img | has_col)[owner]
        self.faces = np.flatnonzero(is_surf)
        f = faces[self.faces]
        o = owner[self.faces]
        self.corners = verts[f].astype(np.float32)
        self.uv = uv[f].astype(np.float32)
        self.colors = (col[f].astype(np.float32) / np.float32(255.0)).astype(np.float32)
        self.atlas, rects = texture_atlas(scene, max_side) if has_img.any() else (np.zeros((1, 1, 3), np.uint8), {})
        inst_rect = np.array([rects.get(n, (0, 0, 0, 0)) if n else (0, 0, 0, 0) for n in img_of], np.float32)
        self.rect = inst_rect[o].reshape(-1, 4)
        self.mode = np.where(has_img[o], np.where(has_col[o], 2.0, 1.0), 0.0).astype(np.float32)
        self._atlas_f = self.atlas.astype(np.float32) * np.float32(1.0 / 255.0)
        self.row_of = np.full(len(faces), -1, np.int64)  # merged face -> surface row
        self.row_of[self.faces] = np.arange(len(self.faces))

    def __len__(self) -> int:
        return len(self.faces)

    def rows(self, order: np.ndarray | None = None) -> np.ndarray:
        """(S, 8, 4) float32 texels for the gl backend, rows in ``order`` (surface row indices):
        ``(a, x0) (b, y0) (c, w) (uv_a, uv_b) (uv_c, h, mode) (col_a, 0) (col_b, 0) (col_c, 0)``."""
        idx = np.arange(len(self)) if order is None else np.asarray(order)
        t = np.zeros((len(idx), 8, 4), np.float32)
        t[:, 0:3, :3] = self.corners[idx]
        t[:, 0:3, 3] = self.rect[idx, :3]
        t[:, 3, :2], t[:, 3, 2:] = self.uv[idx, 0], self.uv[idx, 1]
        t[:, 4, :2], t[:, 4, 2], t[:, 4, 3] = self.uv[idx, 2], self.rect[idx, 3], self.mode[idx]
        t[:, 5:8, :3] = self.colors[idx]
        return t

    def sample(self, rect: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """numpy twin of ``nf_sample``: (M, 4) rects, (M, 2) uv -> (M, 3) float32."""
        uv = uv.astype(np.float32)
        q = np.stack([uv[:, 0] - np.floor(uv[:, 0]), np.float32(1.0) - (uv[:, 1] - np.floor(uv[:, 1]))], 1)
        q = q * rect[:, 2:] - np.float32(0.5)
        fl = np.floor(q)
        f = (q - fl).astype(np.float32)
        w, h = rect[:, 2].astype(np.int64), rect[:, 3].astype(np.int64)
        x0, y0 = fl[:, 0].astype(np.int64), fl[:, 1].astype(np.int64)
        x1, y1 = np.where(x0 + 1 >= w, 0, x0 + 1), np.where(y0 + 1 >= h, 0, y0 + 1)
        x0 = np.where(x0 < 0, w - 1, np.where(x0 >= w, 0, x0))
        y0 = np.where(y0 < 0, h - 1, np.where(y0 >= h, 0, y0))
        x1, y1 = np.where(x1 < 0, w - 1, x1), np.where(y1 < 0, h - 1, y1)
        ox, oy = rect[:, 0].astype(np.int64), rect[:, 1].astype(np.int64)
        at = self._atlas_f
        a, b = at[oy + y0, ox + x0], at[oy + y0, ox + x1]
        c, d = at[oy + y1, ox + x0], at[oy + y1, ox + x1]
        top = a + (b - a) * f[:, :1]
        bot = c + (d - c) * f[:, :1]
        return top + (bot - top) * f[:, 1:]

    def albedo(self, faces: np.ndarray, bu: np.ndarray, bv: np.ndarray, factor: np.ndarray) -> np.ndarray:
        """numpy twin of ``nf_surface``: merged face indices (M,) (all surface faces), barycentric
        weights of corners b and c (M,), material colours (M, 3) -> albedo (M, 3) float32."""
        r = self.row_of[faces]
        bu, bv = bu.astype(np.float32), bv.astype(np.float32)
        ba = np.float32(1.0) - bu - bv
        w = np.stack([ba, bu, bv], 1)[:, :, None]
        out = factor.astype(np.float32).copy()
        mode = self.mode[r]
        img = mode > 0.5
        if img.any():
            uv = (w[img] * self.uv[r[img]]).sum(1)
            out[img] *= self.sample(self.rect[r[img]], uv)
        col = (mode < 0.5) | (mode > 1.5)
        if col.any():
            out[col] *= (w[col] * self.colors[r[col]]).sum(1)
        return out
