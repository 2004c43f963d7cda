"""Ground truth computed from the RGB image alone (the ``2d`` tasks).

Images here are float32 (H, W, 3) RGB in [0, 1] unless stated otherwise. Every function is a pure
function of its inputs; the ones that need randomness take an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import functools
import itertools

import cv2
import numpy as np

from navfusion.vision.tasks import JIGSAW_GRID, JIGSAW_PERMUTATIONS

#: Standard deviation of the Gaussian noise of the ``denoising`` input.
NOISE_SIGMA: float = 0.1
#: Grey level filling the inpainting hole and the jigsaw remainder strip.
FILL_GREY: float = 0.5
#: Texture edges: ``tanh(|grad| / EDGE_SCALE)`` with the gradient in intensity per pixel.
EDGE_SCALE: float = 0.1
#: 2D keypoints: the Harris response is divided by ``max(image max, HARRIS_FLOOR)``.
HARRIS_FLOOR: float = 1e-3
#: Number of clusters of the unsupervised segmentations, and the centre distance under which
#: clusters are merged (2D: Lab/100 + position; 2.5D: see ``gt_geometry.segment_unsup25d``).
SEGMENT_K: int = 8
SEGMENT_MERGE_2D: float = 0.1
#: Weight of the pixel position (in [0, 1]) in the clustering features: small, so segments follow
#: colour/geometry, not a Voronoi split of the image.
SEGMENT_XY_WEIGHT: float = 0.05


def to_gray(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) float32 BT.601 luma."""
    return (img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).astype(np.float32)


def gray_input(img: np.ndarray) -> np.ndarray:
    """Colorization input: (H, W, 3) RGB -> (H, W, 3) luma replicated to 3 channels."""
    return np.repeat(to_gray(img)[..., None], 3, axis=-1)


def noisy_input(img: np.ndarray, rng: np.random.Generator, sigma: float = NOISE_SIGMA) -> np.ndarray:
    """Denoising input: the image plus N(0, sigma²) noise, clipped to [0, 1]."""
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0.0, 1.0).astype(np.float32)


def inpainting_input(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inpainting input: a square hole of side H/2 × W/2 at a random position filled with grey.

    Returns:
        (H, W, 3) float32 image with the hole, (H, W) bool hole mask.
    """
    h, w = img.shape[:2]
    hh, hw = max(1, h // 2), max(1, w // 2)
    y0 = int(rng.integers(0, h - hh + 1))
    x0 = int(rng.integers(0, w - hw + 1))
    mask = np.zeros((h, w), bool)
    mask[y0:y0 + hh, x0:x0 + hw] = True
    out = img.astype(np.float32, copy=True)
    out[mask] = FILL_GREY
    return out, mask


#: The jigsaw permutation set: what ``greedy_permutations(JIGSAW_PERMUTATIONS)`` returns, stored
#: so that no process has to enumerate all 9! permutations (a slow test checks they agree).
_JIGSAW_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8),
    (1, 0, 3, 2, 5, 4, 7, 8, 6),
    (2, 3, 0, 1, 6, 7, 8, 4, 5),
    (3, 2, 1, 0, 7, 8, 5, 6, 4),
    (4, 5, 6, 7, 8, 0, 1, 2, 3),
    (5, 4, 7, 8, 0, 6, 2, 3, 1),
    (6, 7, 8, 4, 1, 2, 3, 5, 0),
    (7, 8, 5, 6, 3, 1, 4, 0, 2),
    (8, 6, 4, 5, 2, 3, 0, 1, 7),
    (0, 2, 3, 1, 8, 6, 4, 5, 7),
    (1, 3, 4, 6, 7, 0, 2, 5, 8),
    (1, 6, 7, 0, 8, 5, 3, 4, 2),
    (1, 8, 0, 4, 2, 6, 5, 7, 3),
    (2, 7, 5, 3, 8, 4, 0, 6, 1),
    (3, 1, 8, 5, 0, 7, 4, 2, 6),
    (3, 4, 6, 2, 1, 5, 8, 0, 7),
)


def jigsaw_permutations(n: int = JIGSAW_PERMUTATIONS, grid: int = JIGSAW_GRID) -> np.ndarray:
    """(n, grid²) int64 fixed permutations of the jigsaw task (row i: tile shown at position j is
    original tile ``perm[j]``); see :func:`greedy_permutations`."""
    if grid == JIGSAW_GRID and n <= len(_JIGSAW_TABLE):
        return np.array(_JIGSAW_TABLE[:n], np.int64)
    return greedy_permutations(n, grid)


@functools.lru_cache(maxsize=4)
def greedy_permutations(n: int = JIGSAW_PERMUTATIONS, grid: int = JIGSAW_GRID) -> np.ndarray:
    """(n, grid²) int fixed permutations, chosen greedily to maximise their minimum Hamming distance.

    The first is the identity; each next one is the lexicographically first permutation with the
    largest minimum Hamming distance to those already chosen. Deterministic, no randomness.
    """
    k = grid * grid
    if k > 9:
        raise ValueError("jigsaw_permutations supports grids up to 3x3")
    allp = np.array(list(itertools.permutations(range(k))), dtype=np.int8)
    chosen = [0]
    mind = (allp != allp[0]).sum(1)
    for _ in range(n - 1):
        nxt = int(np.argmax(mind))  # argmax returns the first (lexicographic) maximiser
        chosen.append(nxt)
        mind = np.minimum(mind, (allp != allp[nxt]).sum(1))
    perms = allp[chosen].astype(np.int64)
    perms.setflags(write=False)
    return perms


def jigsaw_input(img: np.ndarray, perm_index: int, grid: int = JIGSAW_GRID) -> np.ndarray:
    """Shuffle the grid×grid tiles: tile position ``i`` of the output shows original tile ``perm[i]``.

    Tiles have side ``H // grid`` × ``W // grid``; the strip left over at the bottom/right is grey
    (so it cannot give away the original arrangement).
    """
    perm = jigsaw_permutations(JIGSAW_PERMUTATIONS, grid)[perm_index]
    h, w = img.shape[:2]
    th, tw = h // grid, w // grid
    out = np.full_like(img, FILL_GREY, dtype=np.float32)
    for i, src in enumerate(perm):
        ry, rx = divmod(i, grid)
        sy, sx = divmod(int(src), grid)
        out[ry * th:(ry + 1) * th, rx * tw:(rx + 1) * tw] = img[sy * th:(sy + 1) * th, sx * tw:(sx + 1) * tw]
    return out


def _sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel derivatives scaled to units per pixel (a unit ramp gives 1)."""
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    return gx, gy


def texture_edges(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) float32 in [0, 1]: ``tanh(|Sobel(blur(gray))| / EDGE_SCALE)``."""
    g = cv2.GaussianBlur(to_gray(img), (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    gx, gy = _sobel(g)
    return np.tanh(np.sqrt(gx * gx + gy * gy) / EDGE_SCALE).astype(np.float32)


def keypoints2d(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) float32 in [0, 1] Harris corner heatmap.

    The positive Harris response (OpenCV, block 3, Sobel 3, k 0.04) of the grayscale image is
    blurred (sigma 1), divided by ``max(its maximum, HARRIS_FLOOR)`` (so flat images stay near 0)
    and square-rooted to widen the dynamic range.
    """
    r = cv2.cornerHarris(to_gray(img), 3, 3, 0.04, borderType=cv2.BORDER_REPLICATE)
    r = cv2.GaussianBlur(np.maximum(r, 0.0).astype(np.float32), (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    r = np.sqrt(r / max(float(r.max()), HARRIS_FLOOR))
    return np.clip(r, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- unsupervised segmentation


def kmeans_labels(features: np.ndarray, k: int = SEGMENT_K, iters: int = 10, stride: int = 4,
                  merge: float = 0.0) -> np.ndarray:
    """Deterministic k-means of per-pixel features.

    Args:
        features: (H, W, F) float32.
        k: number of clusters; iters: Lloyd iterations on the subsample; stride: subsampling step.
        merge: clusters whose centres are closer than this are merged (transitively), so a smooth
            gradient over one surface ends up as one segment instead of K arbitrary bands.

    Returns:
        (H, W) int32 labels. Initialisation is farthest-point sampling from the pixel nearest the
        mean feature, so the result is a pure function of the features (no RNG). Labels are sorted
        by the clusters' first feature, so equal images get equal label maps.
    """
    h, w, f = features.shape
    sub = features[::stride, ::stride].reshape(-1, f).astype(np.float64)
    k = min(k, len(sub))
    first = int(np.argmin(((sub - sub.mean(0)) ** 2).sum(1)))
    centres = [sub[first]]
    d = ((sub - centres[0]) ** 2).sum(1)
    for _ in range(k - 1):
        i = int(np.argmax(d))
        centres.append(sub[i])
        d = np.minimum(d, ((sub - sub[i]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iters):
        lab = _assign(sub, c)
        for j in range(k):
            m = lab == j
            if m.any():
                c[j] = sub[m].mean(0)
    order = np.argsort(c[:, 0], kind="stable")
    c = c[order]
    lab = _assign(features.reshape(-1, f).astype(np.float64), c).reshape(h, w).astype(np.int32)
    if merge > 0:
        lab = _merge_close(c, merge)[lab]
    return lab


def _merge_close(c: np.ndarray, dist: float) -> np.ndarray:
    """Map cluster -> smallest index of its group, grouping centres closer than ``dist`` (transitively)."""
    k = len(c)
    parent = np.arange(k)

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    d = np.linalg.norm(c[:, None] - c[None], axis=-1)
    for i in range(k):
        for j in range(i + 1, k):
            if d[i, j] < dist:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(k)], np.int32)


def _assign(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]
    return np.argmin(d, axis=1)


def segment_boundaries(labels: np.ndarray, median: int = 5) -> np.ndarray:
    """(H, W) int labels -> (H, W) float32 {0, 1} boundary map of the median-filtered label map."""
    lab = cv2.medianBlur(labels.astype(np.uint8), median) if median > 1 else labels
    b = np.zeros(lab.shape, bool)
    dx = lab[:, 1:] != lab[:, :-1]
    dy = lab[1:, :] != lab[:-1, :]
    b[:, 1:] |= dx
    b[:, :-1] |= dx
    b[1:, :] |= dy
    b[:-1, :] |= dy
    return b.astype(np.float32)


def _pixel_xy(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1)], axis=-1)


def lab_features(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] -> (H, W, 3) CIE Lab scaled to roughly [-1, 1] (L/100, a/100, b/100)."""
    lab = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2Lab)
    return lab / 100.0


def segment_unsup2d(img: np.ndarray, k: int = SEGMENT_K) -> np.ndarray:
    """Boundary map of k-means on (Lab colour / 100, SEGMENT_XY_WEIGHT × pixel position in [0, 1]) with
    close clusters merged. (H, W) float32 in {0, 1}."""
    h, w = img.shape[:2]
    feats = np.concatenate([lab_features(img), SEGMENT_XY_WEIGHT * _pixel_xy(h, w)], axis=-1)
    return segment_boundaries(kmeans_labels(feats, k, merge=SEGMENT_MERGE_2D))
