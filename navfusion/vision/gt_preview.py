"""A picture of every task's input and ground truth, for eyeballing targets (docs, debugging).

    from navfusion.vision.gt_preview import preview_image, save_preview
    batches = render_task_batches(renderer, scene, TASKS, n=4, rng=np.random.default_rng(0))
    save_preview(batches, "gt.png", samples=4)
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from navfusion.common import CATEGORY_TABLE
from navfusion.render.camera import Camera
from navfusion.vision import gt_pose as gp
from navfusion.vision.ground_truth import TaskBatch
from navfusion.vision.tasks import OBJECT_CATEGORIES, task_spec

_PALETTE = np.array([c.color for c in CATEGORY_TABLE], np.uint8)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def _gray(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    v = (x - lo) / max(hi - lo, 1e-9)
    return np.repeat(_u8(v)[..., None], 3, axis=-1)


def _text_tile(lines: list[str], h: int, w: int) -> np.ndarray:
    tile = np.full((h, w, 3), 24, np.uint8)
    scale = max(0.25, w / 320)
    for k, line in enumerate(lines):
        y = int((k + 1) * h / (len(lines) + 1))
        cv2.putText(tile, line, (2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (230, 230, 230), 1, cv2.LINE_AA)
    return tile


def task_tile(b: TaskBatch, i: int, camera: Camera | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of sample ``i``'s target (global targets as text / drawings)."""
    spec = task_spec(b.task)
    x = b.inputs[i]
    img = x[0] if spec.views > 1 else x
    h, w = img.shape[1:]
    t = b.target[i]
    if spec.target == "dense_classification":
        return _PALETTE[np.clip(t, 0, len(_PALETTE) - 1)]
    if spec.target == "dense_regression":
        if spec.channels == 3:
            v = (t + 1) / 2 if spec.name == "normal" else t
            tile = _u8(np.moveaxis(v, 0, -1))
        elif spec.name.startswith("depth"):
            m = b.mask[i] if b.mask is not None else t[0] > 0
            hi = float(t[0][m].max()) if m.any() else 1.0
            tile = _gray(t[0], 0.0, hi)
        else:
            lo, hi = spec.value_range or (float(t.min()), float(t.max()))
            tile = _gray(t[0], lo, hi)
        if b.mask is not None and spec.name == "inpainting":
            tile = tile.copy()
            tile[~b.mask[i]] //= 3
        return tile
    if spec.name == "vanishing_point" and camera is not None:
        tile = _u8(np.moveaxis(img, 0, -1)).copy()
        uv = gp.vanishing_points_px(t.reshape(3, 3), camera)
        for k, col in enumerate(((255, 0, 0), (0, 200, 0), (0, 0, 255))):
            if np.isfinite(uv[k]).all() and np.abs(uv[k]).max() < 1e5:
                c = uv[k]
                for a in np.linspace(0, np.pi, 6, endpoint=False):
                    d = np.array([np.cos(a), np.sin(a)]) * 4 * (h + w)
                    p0, p1 = (c - d).astype(int), (c + d).astype(int)
                    cv2.line(tile, tuple(int(v) for v in p0), tuple(int(v) for v in p1), col, 1, cv2.LINE_AA)
        return tile
    if spec.target == "multilabel":
        names = [OBJECT_CATEGORIES[k] for k in np.nonzero(t > 0.5)[0]] or ["(none)"]
        return _text_tile(names[:6], h, w)
    if spec.classification:
        names = spec.class_names
        return _text_tile([f"class {int(t)}", names[int(t)] if names else ""], h, w)
    return _text_tile([f"{v:+.2f}" for v in np.asarray(t).ravel()[:9]], h, w)


def preview_image(batches: dict[str, TaskBatch], samples: int = 2, camera: Camera | None = None) -> np.ndarray:
    """(rows·H, cols·W, 3) uint8: one row per sample; per task its input (when it is not the plain
    image) and its target, titled."""
    cols: list[tuple[str, list[np.ndarray]]] = []
    first = next(iter(batches.values()))
    n = min(samples, len(first))
    for task, b in batches.items():
        spec = task_spec(task)
        if spec.input != "rgb" or spec.views > 1:
            tiles = []
            for i in range(n):
                x = b.inputs[i]
                tiles.append(_u8(np.moveaxis(x[-1] if spec.views > 1 else x, 0, -1)))
            cols.append((f"{task} in" + (f"[{spec.views - 1}]" if spec.views > 1 else ""), tiles))
        cols.append((task, [task_tile(b, i, camera) for i in range(n)]))
    h, w = cols[0][1][0].shape[:2]
    head = max(10, h // 6)
    out = np.zeros((head + n * h, len(cols) * w, 3), np.uint8)
    for c, (title, tiles) in enumerate(cols):
        cv2.putText(out, title[:18], (c * w + 1, head - 3), cv2.FONT_HERSHEY_SIMPLEX, max(0.22, w / 400),
                    (255, 255, 255), 1, cv2.LINE_AA)
        for r, tile in enumerate(tiles):
            out[head + r * h:head + (r + 1) * h, c * w:(c + 1) * w] = tile
    return out


def save_preview(batches: dict[str, TaskBatch], path: str | os.PathLike, samples: int = 2,
                 camera: Camera | None = None) -> None:
    """Write :func:`preview_image` as a PNG."""
    import imageio.v3 as iio

    iio.imwrite(str(path), preview_image(batches, samples, camera))
