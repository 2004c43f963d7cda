"""Camera poses for pretraining data and one-call rendering of task batches.

``sample_poses`` draws free camera positions inside a scene's rooms (eye height, random yaw,
small pitch). ``view_set_poses`` turns them into pairs/triples of nearby views for the relational
tasks. ``render_task_batch`` / ``render_task_batches`` render and compute ground truth in one call::

    from navfusion.render import create_renderer
    from navfusion.vision.sampling import render_task_batches
    renderer = create_renderer(scene, Camera(width=64, height=64))
    batches = render_task_batches(renderer, scene, TASKS, n=32, rng=np.random.default_rng(0))
    batches["normal"].inputs, batches["normal"].target, batches["normal"].mask
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from navfusion.common import CATEGORIES
from navfusion.errors import NavFusionError
from navfusion.render.camera import BUFFERS, Camera, Frames, Poses
from navfusion.scenes.scene import Scene
from navfusion.vision import gt_pose as gp
from navfusion.vision.ground_truth import TaskBatch, compute_targets, select_frames
from navfusion.vision.tasks import task_spec


@dataclass(frozen=True)
class PoseSampling:
    """How camera poses are drawn.

    Attributes:
        clearance: minimum horizontal distance (m) to walls and to furniture bounding boxes.
        max_pitch_deg: pitch uniform in ±this.
        height_jitter: camera height = floor + eye height + uniform(±this) metres.
        max_step: largest horizontal offset (m) between consecutive views of a pair/triple.
        max_turn_deg: largest yaw change between consecutive views of a non-fixated pair/triple.
    """

    clearance: float = 0.3
    max_pitch_deg: float = 10.0
    height_jitter: float = 0.1
    max_step: float = 0.8
    max_turn_deg: float = 30.0

    def __post_init__(self) -> None:
        from navfusion.config import check

        check(self.clearance >= 0, "clearance", self.clearance, ">= 0")
        check(0 <= self.max_pitch_deg < 90, "max_pitch_deg", self.max_pitch_deg, "in [0, 90)")
        check(self.height_jitter >= 0, "height_jitter", self.height_jitter, ">= 0")
        check(self.max_step > 0, "max_step", self.max_step, "> 0")
        check(0 <= self.max_turn_deg <= 180, "max_turn_deg", self.max_turn_deg, "in [0, 180]")


class FreeSpace:
    """Point test for camera positions: inside a room polygon, ``clearance`` from its walls and
    outside the (grown) footprint of every object that reaches the floor-to-eye band."""

    def __init__(self, scene: Scene, clearance: float, eye_height: float) -> None:
        self.scene = scene
        self.clearance = clearance
        self.polys = [np.asarray(r.polygon, np.float64) for r in scene.rooms]
        if not self.polys:  # imported scene without rooms: its footprint
            b = scene.bounds()
            self.polys = [np.array([[b[0, 0], b[0, 1]], [b[1, 0], b[0, 1]], [b[1, 0], b[1, 1]], [b[0, 0], b[1, 1]]])]
        areas = np.array([abs(_area(p)) for p in self.polys])
        self.weights = areas / areas.sum()
        f = scene.floor_height
        boxes = []
        for inst in scene.instances:
            if CATEGORIES.get(inst.category) is None or CATEGORIES[inst.category].kind != "object":
                continue
            lo, hi = inst.bounds()
            if hi[2] > f + 0.1 and lo[2] < f + eye_height + 0.3:  # rugs and ceiling fixtures do not block
                boxes.append(np.concatenate([lo[:2] - clearance, hi[:2] + clearance]))
        self.boxes = np.array(boxes).reshape(-1, 4)

    def free(self, xy: np.ndarray) -> bool:
        xy = np.asarray(xy, np.float64)[:2]
        b = self.boxes
        if len(b) and np.any((xy[0] > b[:, 0]) & (xy[1] > b[:, 1]) & (xy[0] < b[:, 2]) & (xy[1] < b[:, 3])):
            return False
        for p in self.polys:
            if gp._contains(p, xy):
                return gp._dist_to_polygon(p, xy) >= self.clearance
        return False

    def sample(self, rng: np.random.Generator, tries: int = 2000) -> np.ndarray:
        for _ in range(tries):
            p = self.polys[int(rng.choice(len(self.polys), p=self.weights))]
            lo, hi = p.min(0), p.max(0)
            xy = lo + rng.random(2) * (hi - lo)
            if self.free(xy):
                return xy
        raise NavFusionError(f"scene {self.scene.scene_id}: found no free camera position in {tries} tries "
                             f"(clearance {self.clearance} m)")


def _area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def sample_poses(scene: Scene, n: int, rng: np.random.Generator, camera: Camera | None = None,
                 settings: PoseSampling | None = None, nodes: np.ndarray | None = None) -> Poses:
    """``n`` random free camera poses (yaw uniform, pitch uniform in ±max, eye height ± jitter).

    Args:
        nodes: optional (M, 2+) candidate positions, e.g. ``build_graph(scene).positions``: each
            pose then stands on a uniformly chosen node (the views the navigation agent sees).
            Without it, positions are uniform in the rooms (rooms weighted by area) and at least
            ``settings.clearance`` from walls and furniture.
    """
    camera = camera or Camera()
    s = settings or PoseSampling()
    pos = np.zeros((n, 3))
    if nodes is not None:
        nodes = np.asarray(nodes, np.float64)
        if nodes.ndim != 2 or nodes.shape[1] < 2 or not len(nodes):
            raise NavFusionError(f"sample_poses: nodes must be a non-empty (M, 2) or (M, 3) array, got {nodes.shape}")
        pos[:, :2] = nodes[rng.integers(0, len(nodes), n), :2]
    else:
        space = FreeSpace(scene, s.clearance, camera.eye_height)
        for i in range(n):
            pos[i, :2] = space.sample(rng)
    pos[:, 2] = scene.floor_height + camera.eye_height + rng.uniform(-s.height_jitter, s.height_jitter, n)
    yaws = rng.uniform(-math.pi, math.pi, n)
    pitches = np.radians(rng.uniform(-s.max_pitch_deg, s.max_pitch_deg, n))
    return Poses(pos, yaws, pitches)


def _offset(space: FreeSpace, pos: np.ndarray, rng: np.random.Generator, max_step: float) -> np.ndarray:
    """A free position within ``max_step`` horizontally of ``pos`` (``pos`` itself if none is found)."""
    for _ in range(20):
        r = max_step * math.sqrt(rng.random())
        a = rng.uniform(-math.pi, math.pi)
        cand = pos + np.array([r * math.cos(a), r * math.sin(a), 0.0])
        if space.free(cand):
            return cand
    return pos.copy()


def _look_at(src: np.ndarray, dst: np.ndarray) -> tuple[float, float]:
    d = dst - src
    return math.atan2(d[1], d[0]), math.atan2(d[2], math.hypot(d[0], d[1]))


def _nonfixated(space, pos, yaw, pitch, rng, s: PoseSampling) -> tuple[np.ndarray, float, float]:
    p = _offset(space, pos, rng, s.max_step)
    y = yaw + math.radians(rng.uniform(-s.max_turn_deg, s.max_turn_deg))
    lim = math.radians(s.max_pitch_deg)
    pt = float(np.clip(pitch + math.radians(rng.uniform(-s.max_pitch_deg, s.max_pitch_deg)), -lim, lim))
    return p, y, pt


def view_set_poses(scene: Scene, task: str, base: Poses, rng: np.random.Generator,
                   base_depth: np.ndarray | None = None, camera: Camera | None = None,
                   settings: PoseSampling | None = None) -> Poses:
    """Complete each base pose into the view set of a relational task.

    Args:
        task: egomotion (3 views: base, a random nearby move, another from there), nonfixated_pose
            (2: base and a random nearby view), fixated_pose (2: the second view looks at the
            3D point at the base view's centre), point_matching (2: fixated for even samples,
            non-fixated for odd ones, so both labels occur).
        base: N base poses; base_depth: (N, H, W) z-buffer of the base views (needed by fixated
            views; without it they fall back to non-fixated).

    Returns:
        N·V poses, sample-major (base first).
    """
    spec = task_spec(task)
    camera = camera or Camera()
    s = settings or PoseSampling()
    space = FreeSpace(scene, s.clearance, camera.eye_height)
    rots = base.rotations()
    pos, yaw, pit = [], [], []
    for i in range(len(base)):
        views = [(base.positions[i], float(base.yaws[i]), float(base.pitches[i]))]
        fixated = spec.name == "fixated_pose" or (spec.name == "point_matching" and i % 2 == 0)
        for _ in range(spec.views - 1):
            p0, y0, t0 = views[-1]
            target = None
            if fixated and base_depth is not None:
                c = gp.center_point(base_depth[i], camera)
                if c is not None:
                    target = base.positions[i] + rots[i] @ c
            if target is not None:
                p = _offset(space, p0, rng, s.max_step)
                y, t = _look_at(p, target)
                views.append((p, y, t))
            else:
                views.append(_nonfixated(space, p0, y0, t0, rng, s))
        for p, y, t in views:
            pos.append(p)
            yaw.append(y)
            pit.append(t)
    return Poses(np.array(pos).reshape(-1, 3), np.array(yaw), np.array(pit))


def interleave_frames(parts: Sequence[Frames]) -> Frames:
    """Frames of V renders of N poses each -> N·V frames, sample-major (part 0's view of sample 0 first)."""
    out = []
    for b in BUFFERS:
        arrs = [getattr(f, b) for f in parts]
        if any(a is None for a in arrs):
            out.append(None)
            continue
        st = np.stack(arrs, axis=1)
        out.append(st.reshape(-1, *st.shape[2:]))
    return Frames(*out)


def _render(renderer, poses: Poses) -> Frames:
    return renderer.render(poses)


def render_view_sets(renderer, scene: Scene, task: str, base: Poses, rng: np.random.Generator,
                     base_frames: Frames | None = None, settings: PoseSampling | None = None) -> tuple[Poses, Frames]:
    """Poses and frames of ``task``'s view sets built on ``base`` (N·V of each, sample-major)."""
    camera = renderer.camera
    spec = task_spec(task)
    if spec.views == 1:
        frames = base_frames if base_frames is not None else _render(renderer, base)
        return base, frames
    if base_frames is None:
        base_frames = _render(renderer, base)
    poses = view_set_poses(scene, task, base, rng, base_depth=base_frames.depth_z, camera=camera, settings=settings)
    v = spec.views
    parts = [base_frames]
    for k in range(1, v):
        sel = np.arange(k, len(poses), v)
        parts.append(_render(renderer, Poses(poses.positions[sel], poses.yaws[sel], poses.pitches[sel])))
    return poses, interleave_frames(parts)


def render_task_batches(renderer, scene: Scene, tasks: Sequence[str], n: int, rng: np.random.Generator,
                        settings: PoseSampling | None = None, nodes: np.ndarray | None = None) -> dict[str, TaskBatch]:
    """Render ``n`` samples of every task in ``tasks`` and compute their ground truth.

    One set of ``n`` base views is sampled and rendered once and shared by all tasks (relational
    tasks render their extra views on top). Each task draws from its own child generator, spawned
    in the fixed order of ``tasks``, so results are deterministic given ``rng``.

    Args:
        renderer: from ``navfusion.render.create_renderer(scene, camera)`` (uses ``renderer.camera``).
        nodes: optional candidate positions for the base views (see :func:`sample_poses`).

    Returns:
        {task: TaskBatch with n samples}.
    """
    names = [task_spec(t).name for t in tasks]
    camera = renderer.camera
    base = sample_poses(scene, n, rng, camera, settings, nodes)
    seeds = rng.integers(0, 2**63 - 1, size=len(names))
    base_frames = _render(renderer, base)
    out = {}
    for name, seed in zip(names, seeds):
        trng = np.random.default_rng(int(seed))
        poses, frames = render_view_sets(renderer, scene, name, base, trng, base_frames, settings)
        out[name] = compute_targets(name, frames, poses, scene, camera, trng)
    return out


def render_task_batch(renderer, scene: Scene, task: str, n: int, rng: np.random.Generator,
                      settings: PoseSampling | None = None, nodes: np.ndarray | None = None) -> TaskBatch:
    """``n`` freshly rendered samples of one task (see :func:`render_task_batches`)."""
    return render_task_batches(renderer, scene, [task], n, rng, settings, nodes)[task_spec(task).name]


__all__ = ["FreeSpace", "PoseSampling", "interleave_frames", "render_task_batch",
           "render_task_batches", "render_view_sets", "sample_poses", "select_frames", "view_set_poses"]
