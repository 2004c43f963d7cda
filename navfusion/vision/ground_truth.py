"""Ground truth of the 25 tasks from rendered :class:`~navfusion.render.camera.Frames`.

The entry points::

    from navfusion.vision.ground_truth import compute_targets, make_sample, TaskBatch
    batch = compute_targets("normal", frames, poses, scene, camera, rng)   # one task, N samples
    batch.inputs   # (N, 3, H, W) float32 in [0, 1]   (N, V, 3, H, W) for V-view tasks
    batch.target   # see navfusion.vision.tasks (shape depends on TaskSpec.target)
    batch.mask     # (N, H, W) bool for masked dense tasks, else None

For V-view tasks (egomotion: 3; fixated_pose, nonfixated_pose, point_matching: 2) ``frames`` and
``poses`` hold N·V views ordered sample-major (sample 0's views 0..V-1, then sample 1's ...), as
:func:`navfusion.vision.views.view_set_poses` produces them. Rendering and pose sampling are in
:mod:`navfusion.vision.views` (``render_task_batch`` does everything in one call).

Everything is deterministic given the explicit ``rng`` (only denoising, inpainting and jigsaw
draw from it); the geometric targets are pure functions of the buffers and poses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from navfusion.common import CATEGORIES, OBJECT_CATEGORIES
from navfusion.errors import NavFusionError
from navfusion.render.camera import Camera, Frames, Poses
from navfusion.scenes.scene import Scene
from navfusion.vision import gt_geometry as geo
from navfusion.vision import gt_image as im
from navfusion.vision import gt_pose as gp
from navfusion.vision.tasks import JIGSAW_PERMUTATIONS, TASKS, task_spec

#: class_object: a category is present when it covers at least this fraction of the image.
OBJECT_MIN_FRACTION: float = 0.005

#: Render buffers each task reads (so a caller can render only what it needs).
TASK_BUFFERS: dict[str, tuple[str, ...]] = {
    **{t: ("rgb",) for t in ("autoencoding", "colorization", "denoising", "edge_texture", "inpainting", "jigsaw",
                             "keypoints2d", "segment_unsup2d", "class_scene", "room_layout", "vanishing_point",
                             "egomotion", "fixated_pose", "nonfixated_pose")},
    "curvature": ("rgb", "depth_z", "normal"),
    "edge_occlusion": ("rgb", "depth_z", "normal"),
    "keypoints3d": ("rgb", "depth_z", "normal"),
    "reshading": ("rgb", "depth_z", "normal"),
    "segment_unsup25d": ("rgb", "depth_z", "normal"),
    "depth_zbuffer": ("rgb", "depth_z"),
    "depth_euclidean": ("rgb", "depth_euclidean"),
    "normal": ("rgb", "depth_z", "normal"),
    "point_matching": ("rgb", "depth_z"),
    "segment_semantic": ("rgb", "semantic"),
    "class_object": ("rgb", "semantic"),
}
assert set(TASK_BUFFERS) == set(TASKS)


def buffers_for(tasks) -> tuple[str, ...]:
    """The render buffers needed by a set of tasks, in canonical ``BUFFERS`` order."""
    from navfusion.render.camera import BUFFERS

    need = {b for t in tasks for b in TASK_BUFFERS[task_spec(t).name]}
    return tuple(b for b in BUFFERS if b in need)


@dataclass
class TaskBatch:
    """Inputs and ground truth of N samples of one task.

    Attributes:
        task: task name.
        inputs: (N, 3, H, W) float32 in [0, 1], or (N, V, 3, H, W) for V-view tasks.
        target: per ``TaskSpec.target``: dense_regression (N, C, H, W) float32; dense_classification
            (N, H, W) int64; global_regression (N, C) float32; global_classification (N,) int64;
            multilabel (N, C) float32 in {0, 1}.
        mask: (N, H, W) bool validity mask for tasks with ``TaskSpec.masked``, else ``None``.
    """

    task: str
    inputs: np.ndarray
    target: np.ndarray
    mask: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def __getitem__(self, idx) -> TaskBatch:
        return TaskBatch(self.task, self.inputs[idx], self.target[idx], None if self.mask is None else self.mask[idx])

    @staticmethod
    def concatenate(batches: list[TaskBatch]) -> TaskBatch:
        """Join batches of the same task along the sample axis."""
        if not batches:
            raise ValueError("no batches to concatenate")
        task = batches[0].task
        if any(b.task != task for b in batches):
            raise ValueError("cannot concatenate batches of different tasks")
        mask = None if batches[0].mask is None else np.concatenate([b.mask for b in batches])
        return TaskBatch(task, np.concatenate([b.inputs for b in batches]),
                         np.concatenate([b.target for b in batches]), mask)


def select_frames(frames: Frames, idx) -> Frames:
    """``frames[idx]`` that tolerates buffers that were not rendered (``None``)."""
    from navfusion.render.camera import BUFFERS

    return Frames(*(None if getattr(frames, b) is None else getattr(frames, b)[idx] for b in BUFFERS))


def _rgb01(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) float32 in [0, 1]."""
    return rgb.astype(np.float32) / 255.0


def _chw(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(img, -1, 0), dtype=np.float32)


def _need(frames: Frames, task: str) -> None:
    for b in TASK_BUFFERS[task]:
        if getattr(frames, b) is None:
            raise NavFusionError(f"task {task} needs the {b!r} render buffer; "
                                 f"render with buffers={buffers_for([task])}")


def _single(task: str, fr: Frames, i: int, pos: np.ndarray, yaw: float, pitch: float, scene: Scene | None,
            camera: Camera, rng: np.random.Generator):
    """One single-view sample: (input (H, W, 3), target, mask or None)."""
    img = _rgb01(fr.rgb[i])
    depth = fr.depth_z[i] if fr.depth_z is not None else None
    normal = fr.normal[i] if fr.normal is not None else None
    if task == "autoencoding":
        return img, _chw(img), None
    if task == "colorization":
        return im.gray_input(img), _chw(img), None
    if task == "denoising":
        return im.noisy_input(img, rng), _chw(img), None
    if task == "inpainting":
        holed, hole = im.inpainting_input(img, rng)
        return holed, _chw(img), hole
    if task == "jigsaw":
        k = int(rng.integers(0, JIGSAW_PERMUTATIONS))
        return im.jigsaw_input(img, k), np.int64(k), None
    if task == "edge_texture":
        return img, im.texture_edges(img)[None], None
    if task == "keypoints2d":
        return img, im.keypoints2d(img)[None], None
    if task == "segment_unsup2d":
        return img, im.segment_unsup2d(img)[None], None
    if task == "depth_zbuffer":
        return img, depth[None].astype(np.float32), geo.valid_mask(depth)
    if task == "depth_euclidean":
        d = fr.depth_euclidean[i]
        return img, d[None].astype(np.float32), geo.valid_mask(d)
    if task == "normal":
        return img, _chw(normal), geo.valid_mask(depth)
    if task == "reshading":
        return img, geo.reshading(normal, depth)[None], geo.valid_mask(depth)
    if task == "curvature":
        curv, m = geo.curvature(depth, normal, camera)
        return img, curv, m
    if task == "edge_occlusion":
        return img, geo.occlusion_edges(depth, normal, camera)[None], None
    if task == "keypoints3d":
        return img, geo.keypoints3d(depth, normal, camera)[None], geo.valid_mask(depth)
    if task == "segment_unsup25d":
        return img, geo.segment_unsup25d(img, depth, normal, camera)[None], None
    if task == "segment_semantic":
        return img, fr.semantic[i].astype(np.int64), None
    if task == "class_object":
        sem = fr.semantic[i]
        frac = np.bincount(sem.ravel(), minlength=256) / sem.size
        ids = [CATEGORIES[c].id for c in OBJECT_CATEGORIES]
        return img, (frac[ids] >= OBJECT_MIN_FRACTION).astype(np.float32), None
    if scene is None:
        raise NavFusionError(f"task {task} needs the scene (rooms) to compute its ground truth")
    if task == "class_scene":
        return img, np.int64(gp.scene_class(scene, pos)), None
    if task == "room_layout":
        return img, gp.room_layout(scene, pos, yaw, pitch), None
    if task == "vanishing_point":
        return img, gp.vanishing_directions(scene, pos, yaw, pitch).reshape(-1), None
    raise AssertionError(task)


def compute_targets(task: str, frames: Frames, poses: Poses, scene: Scene | None, camera: Camera,
                    rng: np.random.Generator) -> TaskBatch:
    """Inputs and ground truth of ``task`` for rendered frames.

    Args:
        task: a name from ``TASKS``.
        frames: N·V rendered views (V = ``task_spec(task).views``), sample-major for V > 1.
        poses: the N·V poses the frames were rendered from.
        scene: the scene (needed by class_scene, room_layout, vanishing_point; else may be None).
        camera: the intrinsics the frames were rendered with.
        rng: randomness for the input corruptions (denoising, inpainting, jigsaw).

    Returns:
        A :class:`TaskBatch` of N samples.
    """
    spec = task_spec(task)
    _need(frames, spec.name)
    if len(frames) != len(poses):
        raise ValueError(f"{len(frames)} frames but {len(poses)} poses")
    if len(frames) % spec.views:
        raise ValueError(f"task {task} takes {spec.views} views per sample; got {len(frames)} frames")
    h, w = frames.rgb.shape[1:3]
    if (camera.height, camera.width) != (h, w):
        raise ValueError(f"camera is {camera.width}x{camera.height} but frames are {w}x{h}")
    v = spec.views
    n = len(frames) // v
    if v > 1:
        inputs = np.stack([_chw(_rgb01(x)) for x in frames.rgb]).reshape(n, v, 3, h, w)
        if task == "point_matching":
            rots = poses.rotations()
            target = np.array([
                gp.point_match_label(frames.depth_z[2 * s], (poses.positions[2 * s], rots[2 * s]),
                                     frames.depth_z[2 * s + 1], (poses.positions[2 * s + 1], rots[2 * s + 1]), camera)
                for s in range(n)], np.int64)
        else:
            target = gp.relative_poses(poses, v)
        return TaskBatch(task, inputs, target, None)
    ins, tgts, masks = [], [], []
    for i in range(n):
        x, t, m = _single(task, frames, i, poses.positions[i], float(poses.yaws[i]), float(poses.pitches[i]),
                          scene, camera, rng)
        ins.append(_chw(x))
        tgts.append(t)
        masks.append(m)
    mask = np.stack(masks).astype(bool) if spec.masked else None
    target = np.stack(tgts) if n else np.zeros((0,))
    if spec.classification:
        target = target.astype(np.int64)
    else:
        target = target.astype(np.float32)
    return TaskBatch(task, np.stack(ins) if n else np.zeros((0, 3, h, w), np.float32), target, mask)


def make_sample(task: str, frames: Frames, idx: int, poses: Poses, scene: Scene | None, camera: Camera,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One sample: (input (3, H, W) or (V, 3, H, W) float32, target, mask (H, W) bool or None).

    ``idx`` indexes samples (views ``idx·V .. idx·V + V − 1`` of ``frames``/``poses``).
    """
    v = task_spec(task).views
    sel = slice(idx * v, idx * v + v)
    sub_poses = Poses(poses.positions[sel], poses.yaws[sel], poses.pitches[sel])
    b = compute_targets(task, select_frames(frames, sel), sub_poses, scene, camera, rng)
    return b.inputs[0], b.target[0], None if b.mask is None else b.mask[0]
