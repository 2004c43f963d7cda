"""Reference representations: privileged ground truth ``gt/<task>`` and the ``rgb_thumbnail``.

``gt/<task>`` is an "encoder" that reads the renderer's buffers (depth, normals, semantic ids)
of a view instead of its pixels and writes that task's ground truth in the zoo's feature shape,
``8 x 8 x 8`` per view: the upper bound of what a learned ``<zoo>/<task>`` encoder can carry. It
is **privileged** (no real robot has these buffers): a research tool and the navigation probe's
yardstick, never part of a zoo (``encoders: all`` and a zoo's task list leave it out).

Every reference works on a 64x64 view cut into an 8x8 grid of 8x8-pixel cells; a feature
``(c, i, j)`` describes cell ``(i, j)`` (row ``i`` from the top). Per task:

* ``depth_zbuffer`` / ``depth_euclidean``: depth in metres (no hit or beyond ``DEPTH_MAX`` reads
  ``DEPTH_MAX``) through :func:`cell_stats`: the means of the cell's four 4x4 quadrants (top-left,
  top-right, bottom-left, bottom-right), then the cell's min, max, standard deviation and mean.
* ``normal``: camera-frame normals (x right, y up, z towards the camera): the cell's mean of
  x, y, z, their standard deviations, the share of up-facing pixels (``y > 0.9``: floor, table
  tops) and of camera-facing ones (``z > 0.9``: a wall or object straight ahead).
* ``segment_semantic``: the share of the cell covered by chair, table, bed, door (the targets, in
  ``TARGETS`` order), floor, wall, any other object, and ceiling + no surface.
* ``edge_occlusion``, ``reshading``, ``keypoints3d``, ``segment_unsup25d`` (its boundary map):
  the task's per-pixel ground truth through :func:`cell_stats`.
* ``curvature``: per principal curvature (k1, then k2): the cell's mean, min, max and standard
  deviation of the target map (0 where the task's mask is off).

``rgb_thumbnail`` (not privileged) is the view averaged down to 8x8, ``(3, 8, 8)`` in ``[-1, 1]``:
the floor every learned representation must clear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from navfusion.common import CATEGORIES, TARGETS
from navfusion.errors import NavFusionError
from navfusion.io import hash_jsonable
from navfusion.render.camera import Camera, Frames
from navfusion.vision import gt_geometry as geo

#: Bump when any mapping below changes: it is part of every reference's fingerprint, so the
#: FeatureStore recomputes stale files.
GT_VERSION = 1
#: Side of the views the references read, and of their feature grid.
GT_INPUT_SIZE = 64
GT_GRID = 8
GT_CHANNELS = 8
#: Depth beyond this (or no surface) reads as this many metres.
DEPTH_MAX = 10.0
#: Prefix of the privileged reference names.
GT_PREFIX = "gt/"


# ----------------------------------------------------------------------------- pooling

def cell_pixels(m: np.ndarray, grid: int = GT_GRID) -> np.ndarray:
    """(M, H, W) -> (M, grid, grid, H/grid * W/grid): the pixels of each cell, row-major."""
    n, h, w = m.shape
    if h % grid or w % grid:
        raise NavFusionError(f"reference features need views whose side is a multiple of {grid}; got {w}x{h}")
    ch, cw = h // grid, w // grid
    return m.reshape(n, grid, ch, grid, cw).transpose(0, 1, 3, 2, 4).reshape(n, grid, grid, ch * cw)


def cell_stats(m: np.ndarray, grid: int = GT_GRID) -> np.ndarray:
    """A scalar map (M, H, W) -> (M, 8, grid, grid): quadrant means (4), min, max, std, mean per cell."""
    n, h, w = m.shape
    m = m.astype(np.float32, copy=False)
    quads = cell_pixels(m, 2 * grid).reshape(n, grid, 2, grid, 2, -1).mean(-1)  # (M, g, 2, g, 2)
    quads = quads.transpose(0, 2, 4, 1, 3).reshape(n, 4, grid, grid)
    c = cell_pixels(m, grid)
    stats = np.stack([c.min(-1), c.max(-1), c.std(-1), c.mean(-1)], axis=1)
    return np.concatenate([quads, stats], axis=1)


def channel_stats(t: np.ndarray, grid: int = GT_GRID) -> np.ndarray:
    """A multi-channel map (M, C, H, W) -> (M, 4C, grid, grid): per channel the cell's mean, min,
    max and standard deviation."""
    out = []
    for k in range(t.shape[1]):
        c = cell_pixels(t[:, k], grid)
        out += [c.mean(-1), c.min(-1), c.max(-1), c.std(-1)]
    return np.stack(out, axis=1)


def _fractions(masks: Sequence[np.ndarray], grid: int = GT_GRID) -> np.ndarray:
    """Boolean maps (M, H, W) each -> (M, len(masks), grid, grid) share of each cell."""
    return np.stack([cell_pixels(k.astype(np.float32), grid).mean(-1) for k in masks], axis=1)


def capped_depth(d: np.ndarray) -> np.ndarray:
    """Depth (M, H, W) in metres with no surface (0) or beyond ``DEPTH_MAX`` read as ``DEPTH_MAX``."""
    return np.where(d > 0, np.minimum(d, DEPTH_MAX), DEPTH_MAX).astype(np.float32)


# ----------------------------------------------------------------------------- per-task mappings

def _per_view(fn: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    return np.stack([fn(*a) for a in zip(*arrays)]) if len(arrays[0]) else np.zeros((0, *arrays[0].shape[1:3]))


def semantic_shares(sem: np.ndarray) -> np.ndarray:
    """Semantic ids (M, H, W) -> (M, 8, 8, 8): per cell the share of chair, table, bed, door, floor,
    wall, other objects, ceiling + no surface."""
    ids = {name: c.id for name, c in CATEGORIES.items()}
    groups = [sem == ids[t] for t in TARGETS]
    groups.append(sem == ids["floor"])
    groups.append(sem == ids["wall"])
    others = [c.id for c in CATEGORIES.values() if c.kind == "object" and c.name not in TARGETS]
    groups.append(np.isin(sem, others))
    groups.append(np.isin(sem, [ids["ceiling"], ids["void"]]))
    return _fractions(groups)


def _normal(n: np.ndarray, depth: np.ndarray) -> np.ndarray:
    n = np.where((depth > 0)[..., None], n, 0.0).astype(np.float32)
    comps = [cell_pixels(n[..., k]) for k in range(3)]
    mean = np.stack([c.mean(-1) for c in comps], axis=1)
    std = np.stack([c.std(-1) for c in comps], axis=1)
    shares = _fractions([n[..., 1] > 0.9, n[..., 2] > 0.9])
    return np.concatenate([mean, std, shares], axis=1)


def _curvature(d: np.ndarray, n: np.ndarray, camera: Camera) -> np.ndarray:
    curv = np.stack([geo.curvature(di, ni, camera)[0] for di, ni in zip(d, n)]) if len(d) else \
        np.zeros((0, 2, *d.shape[1:]), np.float32)
    return channel_stats(curv)


@dataclass(frozen=True)
class GtSpec:
    """How one task's ground truth becomes ``(8, 8, 8)`` features per view.

    Attributes:
        buffers: render buffers it reads (names from ``navfusion.render.camera.BUFFERS``).
        fn: ``(frames, camera) -> (M, 8, 8, 8)`` float32 for the M views of ``frames``.
        summary: one line for docs and ``encoders list``.
    """

    buffers: tuple[str, ...]
    fn: Callable[[Frames, Camera], np.ndarray]
    summary: str


GT_TASKS: dict[str, GtSpec] = {
    "depth_zbuffer": GtSpec(("depth_z",), lambda f, c: cell_stats(capped_depth(f.depth_z)),
                            "z-buffer depth (m, capped at 10): quadrant means, min, max, std, mean per cell"),
    "depth_euclidean": GtSpec(("depth_euclidean",), lambda f, c: cell_stats(capped_depth(f.depth_euclidean)),
                              "distance along the ray (m, capped at 10): quadrant means, min, max, std, mean"),
    "normal": GtSpec(("depth_z", "normal"), lambda f, c: _normal(f.normal, f.depth_z),
                     "camera-frame normal: mean xyz, std xyz, share up-facing, share camera-facing"),
    "segment_semantic": GtSpec(("semantic",), lambda f, c: semantic_shares(f.semantic),
                               "share of chair, table, bed, door, floor, wall, other objects, ceiling+void"),
    "edge_occlusion": GtSpec(("depth_z", "normal"), lambda f, c: cell_stats(
        _per_view(lambda d, n: geo.occlusion_edges(d, n, c), f.depth_z, f.normal)),
        "soft occlusion-edge map: quadrant means, min, max, std, mean per cell"),
    "reshading": GtSpec(("depth_z", "normal"), lambda f, c: cell_stats(
        _per_view(lambda d, n: geo.reshading(n, d), f.depth_z, f.normal)),
        "Lambertian shading: quadrant means, min, max, std, mean per cell"),
    "keypoints3d": GtSpec(("depth_z", "normal"), lambda f, c: cell_stats(
        _per_view(lambda d, n: geo.keypoints3d(d, n, c), f.depth_z, f.normal)),
        "3D-corner heatmap: quadrant means, min, max, std, mean per cell"),
    "segment_unsup25d": GtSpec(("rgb", "depth_z", "normal"), lambda f, c: cell_stats(
        _per_view(lambda im, d, n: geo.segment_unsup25d(im.astype(np.float32) / 255.0, d, n, c),
                  f.rgb, f.depth_z, f.normal)),
        "2.5D segment boundaries: quadrant means, min, max, std, mean per cell"),
    "curvature": GtSpec(("depth_z", "normal"), lambda f, c: _curvature(f.depth_z, f.normal, c),
                        "principal curvatures k1, k2: mean, min, max, std per cell each"),
}


def gt_name(task: str) -> str:
    return f"{GT_PREFIX}{task}"


def is_privileged(encoder: object) -> bool:
    """True for encoders that read renderer buffers (``view_buffers``) instead of images."""
    return bool(getattr(encoder, "view_buffers", None))


# ----------------------------------------------------------------------------- the encoder objects

class GroundTruthEncoder(nn.Module):
    """``gt/<task>``: the task's ground truth as ``(8, 8, 8)`` features per view (privileged).

    It has no weights and cannot run on images: the FeatureStore calls :meth:`encode_frames` on
    frames rendered with :attr:`view_buffers` from the views' poses (``navfusion features build``,
    the feature observation mode and the probe all go through it).
    """

    privileged = True

    def __init__(self, task: str) -> None:
        super().__init__()
        if task not in GT_TASKS:
            from navfusion.common import suggest

            raise NavFusionError(f"no ground-truth reference for task {task!r}.{suggest(task, GT_TASKS)} "
                                 f"Known: {', '.join(GT_TASKS)}")
        self.task = task
        self.spec = GT_TASKS[task]
        self.name = gt_name(task)
        self.input_size = GT_INPUT_SIZE
        self.output_shape = (GT_CHANNELS, GT_GRID, GT_GRID)
        self.view_buffers = self.spec.buffers
        # the FeatureStore's fingerprint: a mapping change makes cached files stale
        self.weights_sha256 = hash_jsonable(["gt", task, GT_VERSION, DEPTH_MAX, GT_GRID, GT_CHANNELS])

    def encode_frames(self, frames: Frames, camera: Camera) -> np.ndarray:
        """Rendered views (M of them, with :attr:`view_buffers`) -> float32 ``(M, 8, 8, 8)``."""
        if (camera.width, camera.height) != (GT_INPUT_SIZE, GT_INPUT_SIZE):
            raise NavFusionError(f"{self.name}: needs {GT_INPUT_SIZE}x{GT_INPUT_SIZE} views, "
                                 f"got {camera.width}x{camera.height}")
        for b in self.view_buffers:
            if getattr(frames, b) is None:
                raise NavFusionError(f"{self.name}: the {b!r} render buffer is missing")
        out = self.spec.fn(frames, camera).astype(np.float32)
        return out.reshape(-1, *self.output_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NavFusionError(f"{self.name} is a privileged reference: it reads renderer buffers, not images. "
                             f"Build its features with `navfusion features build --encoders {self.name}` "
                             "(or use it as an encoder name in the env, agent recipes or the probe)")


class ThumbnailEncoder(nn.Module):
    """``rgb_thumbnail``: normalised images ``(N, 3, S, S)`` -> ``(N, 3, 8, 8)`` cell means."""

    def __init__(self, input_size: int = GT_INPUT_SIZE, size: int = GT_GRID) -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.output_shape = (3, int(size), int(size))
        self.name = "rgb_thumbnail"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, self.output_shape[1:])


def encode_world(world, encoders: Sequence[GroundTruthEncoder], batch_size: int = 256,
                 renderer_factory=None, nodes: np.ndarray | None = None) -> list[np.ndarray]:
    """Features float32 ``(N, 8, 8, 8, 8)`` of every node x view of ``world`` for each reference
    (``(len(nodes), 8, ...)`` for the given ``nodes`` only).

    The views' poses (``nav.views.node_poses``) are rendered once per batch with the union of the
    references' buffers, by the backend that rendered the world's cached views (so depth and ids
    line up with the RGB the learned encoders saw); nothing extra is cached on disk.
    """
    from navfusion.nav.views import default_renderer_factory, node_poses
    from navfusion.render.camera import Poses

    if not encoders:
        return []
    camera = world.camera
    backend = world.views.backend if world.views is not None else "auto"
    need = tuple(dict.fromkeys(b for e in encoders for b in e.view_buffers))
    poses = node_poses(world.graph, camera, nodes)
    outs = [np.empty((len(poses), *e.output_shape), np.float32) for e in encoders]
    renderer = (renderer_factory or default_renderer_factory)(world.scene, camera, backend)
    try:
        for s in range(0, len(poses), batch_size):
            e_ = min(s + batch_size, len(poses))
            frames = renderer.render(Poses(poses.positions[s:e_], poses.yaws[s:e_], poses.pitches[s:e_]), buffers=need)
            for enc, out in zip(encoders, outs):
                out[s:e_] = enc.encode_frames(frames, camera)
    finally:
        close = getattr(renderer, "close", None)
        if close:
            close()
    return [o.reshape(-1, 8, *o.shape[1:]) for o in outs]


__all__ = ["GT_TASKS", "GroundTruthEncoder", "ThumbnailEncoder", "cell_stats", "encode_world", "gt_name",
           "is_privileged"]
