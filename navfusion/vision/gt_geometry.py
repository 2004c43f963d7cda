"""Ground truth computed from the geometry buffers (depth, normals) of one view: the dense ``3d`` tasks.

Camera frame as in :mod:`navfusion.render.camera`: ``x`` right, ``y`` up, ``z`` backwards (the
camera looks along ``-z``); pixel ``(row i, column j)`` has its centre at ``(j + 0.5, i + 0.5)``.
Depth buffers hold 0 where nothing was hit.
"""

from __future__ import annotations

import cv2
import numpy as np

from navfusion.render.camera import Camera
from navfusion.vision.gt_image import (
    SEGMENT_K,
    SEGMENT_XY_WEIGHT,
    _pixel_xy,
    _sobel,
    kmeans_labels,
    lab_features,
    segment_boundaries,
)

#: Reshading light: unit direction towards the light in the camera frame (up-right, behind the camera).
LIGHT_DIR: np.ndarray = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
#: Occlusion edge: relative disagreement between a neighbour's depth and the depth predicted by
#: the pixel's tangent plane above which the two pixels lie on different surfaces.
OCCLUSION_REL: float = 0.05
#: Occlusion edge: two pixels whose tangent planes intersect within this margin (in pixel
#: spacings) of the segment between them meet at a crease, not an occlusion.
CREASE_MARGIN: float = 0.25
#: segment_unsup25d: k-means clusters whose centres are closer than this are merged.
SEGMENT_MERGE_25D: float = 0.25
#: Curvature targets are ``tanh(k * CURVATURE_SCALE)`` (k in 1/m).
CURVATURE_SCALE: float = 0.25
#: keypoints3d: the normal-field Harris response is squashed as ``tanh(R / KEYPOINT3D_SCALE)``.
KEYPOINT3D_SCALE: float = 1e-2


def pixel_rays(camera: Camera) -> np.ndarray:
    """(H, W, 3) camera-frame rays through the pixel centres, scaled to ``z = -1``."""
    h, w = camera.height, camera.width
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    x = (jj - camera.cx) / camera.fx
    y = -(ii - camera.cy) / camera.fy
    return np.stack([x, y, -np.ones_like(x)], axis=-1)


def backproject(depth_z: np.ndarray, camera: Camera) -> np.ndarray:
    """(H, W) z-buffer depth -> (H, W, 3) float64 camera-frame points (0 where depth is 0)."""
    return pixel_rays(camera) * depth_z[..., None].astype(np.float64)


def valid_mask(depth_z: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels where a surface was hit."""
    return depth_z > 0


def reshading(normal: np.ndarray, depth_z: np.ndarray) -> np.ndarray:
    """(H, W, 3) camera-frame normals -> (H, W) float32 Lambertian shading ``max(0, n·l)``; 0 off-surface."""
    s = np.clip(normal.astype(np.float64) @ LIGHT_DIR, 0.0, 1.0)
    return np.where(valid_mask(depth_z), s, 0.0).astype(np.float32)


def occlusion_edges_binary(depth_z: np.ndarray, normal: np.ndarray, camera: Camera,
                           rel: float = OCCLUSION_REL) -> np.ndarray:
    """(H, W) bool: pixels on the near side of a depth discontinuity (or bordering empty space).

    Two 4-neighbours ``p`` and ``q`` lie on different surfaces when ``q``'s depth differs by more
    than ``rel`` (relative) from the depth at ``q`` predicted by ``p``'s tangent plane (and vice
    versa), unless the two tangent planes intersect between the pixels (a crease, where the
    surface is continuous). Unlike a plain depth-difference threshold this stays quiet on a
    steeply slanted floor and on creases, and fires on true occlusions. The nearer pixel of the
    pair is marked.
    """
    valid = valid_mask(depth_z)
    rays = pixel_rays(camera)
    pts = rays * depth_z[..., None]
    n = normal.astype(np.float64)
    offset = (n * pts).sum(-1)  # plane: n·X = offset
    edges = np.zeros(depth_z.shape, bool)
    z = depth_z.astype(np.float64)
    for axis in (0, 1):
        sl_a = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        sl_b = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        va, vb = valid[sl_a], valid[sl_b]
        za, zb = z[sl_a], z[sl_b]

        def predicted(src, dst):
            den = (n[src] * rays[dst]).sum(-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                return offset[src] / den

        with np.errstate(divide="ignore", invalid="ignore"):
            err_ab = np.abs(predicted(sl_a, sl_b) - zb) / np.maximum(zb, 1e-9)
            err_ba = np.abs(predicted(sl_b, sl_a) - za) / np.maximum(za, 1e-9)
        # a crease: the two tangent planes meet between the pixels. Along the rays
        # r(s) = r_a + s (r_b - r_a) the planes' depths agree where
        # f(s) = off_a (n_b . r(s)) - off_b (n_a . r(s)) = 0, which is linear in s.
        dr = rays[sl_b] - rays[sl_a]
        f0 = offset[sl_a] * (n[sl_b] * rays[sl_a]).sum(-1) - offset[sl_b] * (n[sl_a] * rays[sl_a]).sum(-1)
        f1 = f0 + offset[sl_a] * (n[sl_b] * dr).sum(-1) - offset[sl_b] * (n[sl_a] * dr).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_cross = f0 / (f0 - f1)
        crease = np.isfinite(s_cross) & (s_cross >= -CREASE_MARGIN) & (s_cross <= 1 + CREASE_MARGIN)
        both = va & vb
        jump = both & ~((err_ab <= rel) | (err_ba <= rel) | crease)
        # where only one side hit a surface, that side borders empty space
        mark_a = (jump & (za <= zb)) | (va & ~vb)
        mark_b = (jump & (zb < za)) | (vb & ~va)
        edges[sl_a] |= mark_a
        edges[sl_b] |= mark_b
    return edges


def soften(binary: np.ndarray, sigma: float = 0.7) -> np.ndarray:
    """Blur a {0, 1} line map into a soft target in [0, 1] whose lines peak at 1."""
    b = cv2.GaussianBlur(binary.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    peak = 1.0 / (np.sqrt(2 * np.pi) * sigma)  # peak of a blurred 1-pixel line
    return np.clip(b / min(peak, 1.0), 0.0, 1.0).astype(np.float32)


def occlusion_edges(depth_z: np.ndarray, normal: np.ndarray, camera: Camera) -> np.ndarray:
    """(H, W) float32 soft occlusion-edge map in [0, 1]."""
    return soften(occlusion_edges_binary(depth_z, normal, camera))


def curvature(depth_z: np.ndarray, normal: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Principal curvatures of the visible surface.

    With ``P(u, v)`` the back-projected points and ``N(u, v)`` the normals, central differences
    give the first fundamental form ``I = [Pu·Pu, Pu·Pv; ., Pv·Pv]`` and the second
    ``II = sym([Nu·Pu, Nu·Pv; Nv·Pu, Nv·Pv])``; the principal curvatures are the eigenvalues of the
    shape operator ``I⁻¹ II`` (1/m; positive where the surface bulges towards the camera, e.g.
    a sphere of radius r seen from outside gives 1/r; creases of flat-shaded meshes saturate).

    Returns:
        (2, H, W) float32 ``tanh(CURVATURE_SCALE · (k1, k2))`` with k1 >= k2, and the (H, W) bool
        mask of pixels whose 3×3 neighbourhood lies on one surface.
    """
    p = backproject(depth_z, camera)
    n = normal.astype(np.float64)
    pad_p = np.pad(p, ((1, 1), (1, 1), (0, 0)), mode="edge")
    pad_n = np.pad(n, ((1, 1), (1, 1), (0, 0)), mode="edge")
    pu = (pad_p[1:-1, 2:] - pad_p[1:-1, :-2]) / 2
    pv = (pad_p[2:, 1:-1] - pad_p[:-2, 1:-1]) / 2
    nu = (pad_n[1:-1, 2:] - pad_n[1:-1, :-2]) / 2
    nv = (pad_n[2:, 1:-1] - pad_n[:-2, 1:-1]) / 2
    e, f, g = (pu * pu).sum(-1), (pu * pv).sum(-1), (pv * pv).sum(-1)
    l_, m_, n_ = (nu * pu).sum(-1), 0.5 * ((nu * pv).sum(-1) + (nv * pu).sum(-1)), (nv * pv).sum(-1)
    det_i = e * g - f * f
    ok = det_i > 1e-18
    det_i = np.where(ok, det_i, 1.0)
    # S = I^-1 II ; trace and determinant give the eigenvalues
    tr = (g * l_ - 2 * f * m_ + e * n_) / det_i
    det = (l_ * n_ - m_ * m_) / det_i
    disc = np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
    k1, k2 = tr / 2 + disc, tr / 2 - disc
    out = np.tanh(CURVATURE_SCALE * np.stack([k1, k2]))
    valid = valid_mask(depth_z)
    bad = ~valid | occlusion_edges_binary(depth_z, normal, camera)
    bad = cv2.dilate(bad.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    mask = valid & ~bad & ok
    mask[0, :] = mask[-1, :] = False
    mask[:, 0] = mask[:, -1] = False
    out = np.where(mask[None], out, 0.0)
    return out.astype(np.float32), mask


def keypoints3d(depth_z: np.ndarray, normal: np.ndarray, camera: Camera) -> np.ndarray:
    """(H, W) float32 3D-corner heatmap in [0, 1] (NARF-like).

    Harris response of the normal field: the structure tensor ``Σ_c ∇N_c ∇N_cᵀ`` (Gaussian window,
    sigma 1.5) is large in two directions only where at least three surface orientations meet
    (box corners, room corners); a crease between two planes or a flat wall gives ~0. Occlusion
    boundaries enter as a 4th channel, so corners of silhouettes count as well.
    """
    valid = valid_mask(depth_z)
    occ = occlusion_edges_binary(depth_z, normal, camera).astype(np.float32)
    chans = [normal[..., c].astype(np.float32) for c in range(3)] + [occ]
    sxx = np.zeros(depth_z.shape, np.float32)
    syy = np.zeros_like(sxx)
    sxy = np.zeros_like(sxx)
    for ch in chans:
        gx, gy = _sobel(ch)
        sxx += gx * gx
        syy += gy * gy
        sxy += gx * gy
    blur = [cv2.GaussianBlur(s, (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE) for s in (sxx, syy, sxy)]
    r = blur[0] * blur[1] - blur[2] ** 2 - 0.04 * (blur[0] + blur[1]) ** 2
    heat = np.tanh(np.maximum(r, 0.0) / KEYPOINT3D_SCALE)
    return np.where(valid, heat, 0.0).astype(np.float32)


def segment_unsup25d(img: np.ndarray, depth_z: np.ndarray, normal: np.ndarray, camera: Camera,
                     k: int = SEGMENT_K) -> np.ndarray:
    """Boundary map of k-means on geometry: (normal, ln of the tangent plane's distance from the camera,
    0.25 × Lab colour / 100, SEGMENT_XY_WEIGHT × position).

    The tangent plane's distance ``|n · P|`` is constant over a planar surface (unlike depth, which
    would cut a wall seen at an angle into bands), so planes form compact clusters; clusters with
    centres closer than ``SEGMENT_MERGE_25D`` are merged. (H, W) float32 in {0, 1}. Empty pixels
    get the normal (0, 0, 0) and the plane distance of 20 m.
    """
    h, w = depth_z.shape
    valid = valid_mask(depth_z)
    p = backproject(depth_z, camera)
    off = np.abs((p * normal).sum(-1))
    logo = np.log(np.where(valid, np.maximum(off, 0.05), 20.0)).astype(np.float32)
    feats = np.concatenate([
        np.where(valid[..., None], normal, 0.0).astype(np.float32),
        logo[..., None],
        0.25 * lab_features(img),
        SEGMENT_XY_WEIGHT * _pixel_xy(h, w),
    ], axis=-1)
    return segment_boundaries(kmeans_labels(feats, k, merge=SEGMENT_MERGE_25D))
