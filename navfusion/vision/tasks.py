"""The 25 Taskonomy-style tasks: names, groups and target specifications.

Every task is described by a :class:`TaskSpec` that tells a decoder head what to predict, how to
score it and what the input image is. Ground truth lives in :mod:`navfusion.vision.ground_truth`.

Array conventions of a batch of N samples (see :class:`navfusion.vision.ground_truth.TaskBatch`):

=======================  ===========================================  ==========================
``target`` kind          target array                                 decoder output
=======================  ===========================================  ==========================
dense_regression         (N, C, H, W) float32                         (N, C, H, W)
dense_classification     (N, H, W) int64 in 0..C-1                    (N, C, H, W) logits
global_regression        (N, C) float32                               (N, C)
global_classification    (N,) int64 in 0..C-1                         (N, C) logits
multilabel               (N, C) float32 in {0, 1}                     (N, C) logits
=======================  ===========================================  ==========================

``C`` is :attr:`TaskSpec.channels` (channels, classes or dimensions). Dense targets of tasks with
``masked=True`` come with a boolean validity mask (N, H, W); the loss and the metric use only the
valid pixels. Inputs are float32 RGB in [0, 1]: (N, 3, H, W) for single-view tasks and
(N, V, 3, H, W) for tasks with ``views = V`` > 1 (the encoder sees each view separately; the
decoder concatenates the V feature maps).

Groups follow the clusters of the Taskonomy task taxonomy (Zamir et al., CVPR 2018, Fig. 13):
``3d`` (geometry of visible surfaces), ``2d`` (image-level, computable from the pixels alone),
``semantic`` (object and scene categories) and ``geometric`` (Taskonomy's "low-dimensional
geometric" tasks: camera pose, room layout, vanishing points, point matching).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from navfusion.common import NUM_SEMANTIC_CLASSES, OBJECT_CATEGORIES, ROOM_TYPES, suggest
from navfusion.config import check
from navfusion.errors import NavFusionError
from navfusion.markdown import markdown_table

#: Task groups, in display order.
GROUPS: tuple[str, ...] = ("3d", "2d", "semantic", "geometric")
TARGET_KINDS: tuple[str, ...] = (
    "dense_regression", "dense_classification", "global_regression", "global_classification", "multilabel",
)
LOSSES: tuple[str, ...] = ("l1", "l2", "ce", "bce")
#: What the encoder is fed: the plain image, a noisy one, one with a hole, a grayscale one
#: (replicated to 3 channels), or one whose 3×3 tiles were shuffled.
INPUT_KINDS: tuple[str, ...] = ("rgb", "noisy", "masked", "gray", "jigsaw")
BASELINES: tuple[str, ...] = ("mean", "majority")

#: Jigsaw: the image is cut into JIGSAW_GRID × JIGSAW_GRID tiles, shuffled by one of
#: JIGSAW_PERMUTATIONS fixed permutations (see ``navfusion.vision.gt_image.jigsaw_permutations``).
JIGSAW_GRID: int = 3
JIGSAW_PERMUTATIONS: int = 16
#: Dimensions of the pose targets: translation (3, metres, in the first view's camera frame) then
#: rotation as an axis-angle vector (3, radians, in the first view's camera frame).
POSE_DIMS: int = 6


@dataclass(frozen=True)
class TaskSpec:
    """What a task predicts and how it is scored.

    Attributes:
        name: Taskonomy name, e.g. ``"depth_zbuffer"``.
        group: one of :data:`GROUPS`.
        target: one of :data:`TARGET_KINDS`.
        channels: dense channels / number of classes / number of dimensions (``C`` above).
        views: number of input images per sample (1 single, 2 pair, 3 triple).
        loss: the decoder's training loss, one of :data:`LOSSES` (``bce`` on dense maps means
            binary cross-entropy with soft targets in [0, 1]).
        input: what the input image is, one of :data:`INPUT_KINDS`.
        baseline: the trivial predictor a trained head must beat: ``mean`` (the per-channel mean
            target of the training set, per pixel for dense tasks) or ``majority`` (the most frequent class).
        masked: dense targets come with a validity mask (e.g. no depth where nothing was hit).
        value_range: (low, high) bounds of regression targets, ``None`` if unbounded / classes.
        units: unit or meaning of the target values (for docs and plots).
        description: how the ground truth is computed (one sentence; rendered into docs/tasks.md).
    """

    name: str
    group: str
    target: str
    channels: int
    views: int
    loss: str
    input: str
    baseline: str
    masked: bool
    value_range: tuple[float, float] | None
    units: str
    description: str

    def __post_init__(self) -> None:
        where = f"task {self.name}"
        check(self.group in GROUPS, f"{where}.group", self.group, f"one of {GROUPS}")
        check(self.target in TARGET_KINDS, f"{where}.target", self.target, f"one of {TARGET_KINDS}")
        check(self.loss in LOSSES, f"{where}.loss", self.loss, f"one of {LOSSES}")
        check(self.input in INPUT_KINDS, f"{where}.input", self.input, f"one of {INPUT_KINDS}")
        check(self.baseline in BASELINES, f"{where}.baseline", self.baseline, f"one of {BASELINES}")
        check(self.views in (1, 2, 3), f"{where}.views", self.views, "1, 2 or 3")
        check(self.channels >= 1, f"{where}.channels", self.channels, ">= 1")

    @property
    def dense(self) -> bool:
        """True for per-pixel targets."""
        return self.target.startswith("dense")

    @property
    def classification(self) -> bool:
        """True when the target holds class indices (``ce`` with ``channels`` classes)."""
        return self.target in ("dense_classification", "global_classification")

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """Names of the classes / label dimensions when they have names."""
        return CLASS_NAMES.get(self.name)


def _t(name, group, target, channels, loss, baseline, *, views=1, input="rgb", masked=False, value_range=None,
       units="", description="") -> TaskSpec:
    return TaskSpec(name, group, target, channels, views, loss, input, baseline, masked, value_range, units,
                    description)


_SPECS: tuple[TaskSpec, ...] = (
    _t("autoencoding", "2d", "dense_regression", 3, "l1", "mean", value_range=(0.0, 1.0), units="RGB in [0, 1]",
       description="the input RGB image itself"),
    _t("colorization", "2d", "dense_regression", 3, "l1", "mean", input="gray", value_range=(0.0, 1.0),
       units="RGB in [0, 1]",
       description="the RGB image, from its grayscale version (BT.601 luma replicated to 3 channels)"),
    _t("curvature", "3d", "dense_regression", 2, "l1", "mean", masked=True, value_range=(-1.0, 1.0),
       units="tanh(k * 0.25 m) of the principal curvatures k1 >= k2 (convex > 0)",
       description="principal curvatures of the surface: eigenvalues of the shape operator I^-1 II from "
                   "finite differences of the back-projected points and of the normal map; masked at "
                   "occlusion boundaries"),
    _t("denoising", "2d", "dense_regression", 3, "l1", "mean", input="noisy", value_range=(0.0, 1.0),
       units="RGB in [0, 1]",
       description="the clean RGB image, from a copy with Gaussian noise (sigma 0.1) added"),
    _t("edge_texture", "2d", "dense_regression", 1, "l1", "mean", value_range=(0.0, 1.0),
       units="tanh(|Sobel gradient| / 0.1) in [0, 1]",
       description="texture edges: Sobel gradient magnitude of the grayscale image blurred with sigma 1 "
                   "(OpenCV), squashed with tanh"),
    _t("edge_occlusion", "3d", "dense_regression", 1, "bce", "mean", value_range=(0.0, 1.0),
       units="soft edge map in [0, 1]",
       description="occlusion edges: pixels whose neighbour's depth jumps away from the depth predicted by "
                   "the pixel's own tangent plane (relative error > 5%) or hits nothing, blurred"),
    _t("egomotion", "geometric", "global_regression", 2 * POSE_DIMS, "l2", "mean", views=3,
       units="2 x (translation m, axis-angle rad) of views 2 and 3 in view 1's camera frame",
       description="relative 6-DoF poses of the 2nd and 3rd of three nearby views w.r.t. the 1st, from the "
                   "known camera poses"),
    _t("fixated_pose", "geometric", "global_regression", POSE_DIMS, "l2", "mean", views=2,
       units="translation m, axis-angle rad of view 2 in view 1's camera frame",
       description="relative 6-DoF pose of a second view that looks at the 3D point seen at the centre of "
                   "the first (fixation point from the depth buffer)"),
    _t("inpainting", "2d", "dense_regression", 3, "l1", "mean", input="masked", masked=True, value_range=(0.0, 1.0),
       units="RGB in [0, 1] inside the hole",
       description="the RGB content of a square hole (side H/2, random position) filled with grey in the "
                   "input; the mask marks the hole"),
    _t("jigsaw", "2d", "global_classification", JIGSAW_PERMUTATIONS, "ce", "majority", input="jigsaw",
       units="permutation index",
       description=f"index of the permutation (of {JIGSAW_PERMUTATIONS} fixed, maximally different ones) "
                   f"that shuffled the {JIGSAW_GRID}x{JIGSAW_GRID} tiles of the input"),
    _t("keypoints2d", "2d", "dense_regression", 1, "l1", "mean", value_range=(0.0, 1.0),
       units="Harris response heatmap in [0, 1]",
       description="2D keypoints: Harris corner response of the grayscale image (OpenCV), positive part, "
                   "blurred, normalised by the image's maximum (floored), square-rooted"),
    _t("keypoints3d", "3d", "dense_regression", 1, "l1", "mean", masked=True, value_range=(0.0, 1.0),
       units="3D corner heatmap in [0, 1]",
       description="3D keypoints (NARF-like): Harris response of the normal field (structure tensor summed "
                   "over the 3 normal channels) plus occlusion-boundary corners, squashed and blurred"),
    _t("nonfixated_pose", "geometric", "global_regression", POSE_DIMS, "l2", "mean", views=2,
       units="translation m, axis-angle rad of view 2 in view 1's camera frame",
       description="relative 6-DoF pose of a second, randomly displaced and rotated nearby view"),
    _t("point_matching", "geometric", "global_classification", 2, "ce", "majority", views=2,
       units="1 = the centre pixels show the same 3D point",
       description="whether the 3D point at the centre of view 1 (depth + pose) projects within 2 px of the "
                   "centre of view 2 and is visible there (depth agrees within 5%)"),
    _t("reshading", "3d", "dense_regression", 1, "l1", "mean", masked=True, value_range=(0.0, 1.0),
       units="Lambertian shading in [0, 1]",
       description="Lambertian shading max(0, n . l) of the normal map under a fixed directional light in "
                   "the camera frame, l = (0.3, 0.5, 1)/|.| (from up-right behind the camera)"),
    _t("depth_zbuffer", "3d", "dense_regression", 1, "l1", "mean", masked=True, value_range=(0.0, 50.0),
       units="metres along the optical axis", description="the renderer's z-buffer depth"),
    _t("depth_euclidean", "3d", "dense_regression", 1, "l1", "mean", masked=True, value_range=(0.0, 50.0),
       units="metres from the camera centre", description="the renderer's Euclidean depth"),
    _t("normal", "3d", "dense_regression", 3, "l1", "mean", masked=True, value_range=(-1.0, 1.0),
       units="unit normal, camera frame (x right, y up, z back)", description="the renderer's normal buffer"),
    _t("room_layout", "geometric", "global_regression", 9, "l2", "mean",
       units="m: wall distances front/back/left/right, camera height, ceiling distance; sin 4phi, cos 4phi, pitch",
       description="camera pose in the Manhattan frame of the room it stands in: distances to the walls of "
                   "the room's aligned bounding rectangle along the axis closest to the view (phi = yaw "
                   "relative to that axis, in [-45, 45) deg), height above floor, distance to ceiling, pitch"),
    _t("segment_unsup2d", "2d", "dense_regression", 1, "bce", "mean", value_range=(0.0, 1.0),
       units="segment-boundary map in [0, 1]",
       description="boundaries of a deterministic k-means (K=8) clustering of Lab colour + weak pixel "
                   "position, close clusters merged, median-filtered"),
    _t("segment_unsup25d", "3d", "dense_regression", 1, "bce", "mean", value_range=(0.0, 1.0),
       units="segment-boundary map in [0, 1]",
       description="boundaries of a deterministic k-means (K=8) clustering of normals + ln distance of the "
                   "tangent plane + weak colour and position, close clusters merged, median-filtered"),
    _t("segment_semantic", "semantic", "dense_classification", NUM_SEMANTIC_CLASSES, "ce", "majority",
       units="category id (navfusion.common.CATEGORY_TABLE)", description="the renderer's semantic buffer"),
    _t("class_object", "semantic", "multilabel", len(OBJECT_CATEGORIES), "bce", "mean",
       units="presence of each OBJECT_CATEGORIES class",
       description="which object categories cover at least 0.5% of the image (semantic buffer)"),
    _t("class_scene", "semantic", "global_classification", len(ROOM_TYPES), "ce", "majority",
       units="index into ROOM_TYPES",
       description="type of the room the camera stands in (point in room polygon; nearest room otherwise)"),
    _t("vanishing_point", "geometric", "global_regression", 9, "l2", "mean", value_range=(-1.0, 1.0),
       units="3 unit vectors, camera frame",
       description="the 3 vanishing directions of the room's Manhattan frame in camera coordinates: the "
                   "horizontal axis closest to the view direction (pointing forward), the other horizontal "
                   "axis (pointing right) and the vertical (pointing up)"),
)

#: The 25 task names, in the fixed canonical order (as DESIGN.md lists them).
TASKS: tuple[str, ...] = tuple(s.name for s in _SPECS)
TASK_SPECS: dict[str, TaskSpec] = {s.name: s for s in _SPECS}

#: Names of classes / label dimensions where they exist.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "class_object": OBJECT_CATEGORIES,
    "class_scene": ROOM_TYPES,
    "point_matching": ("different", "same"),
}


def task_spec(name: str) -> TaskSpec:
    """The spec of task ``name``; unknown names raise with suggestions."""
    try:
        return TASK_SPECS[name]
    except KeyError:
        raise NavFusionError(f"unknown task {name!r}; known: {', '.join(TASKS)}.{suggest(name, TASKS)}") from None


def list_tasks(pattern: str = "*", group: str | None = None) -> list[str]:
    """Task names matching a glob ``pattern`` (and ``group``), in canonical order."""
    if group is not None and group not in GROUPS:
        raise NavFusionError(f"unknown task group {group!r}; groups: {', '.join(GROUPS)}.{suggest(group, GROUPS)}")
    return [t for t in TASKS if fnmatch.fnmatch(t, pattern) and (group is None or TASK_SPECS[t].group == group)]


def single_view_tasks() -> list[str]:
    """Tasks whose input is one image (all but egomotion, fixated/non-fixated pose, point matching)."""
    return [t for t in TASKS if TASK_SPECS[t].views == 1]


def _target_text(s: TaskSpec) -> str:
    shape = {
        "dense_regression": f"{s.channels}×H×W float",
        "dense_classification": f"H×W class id (0..{s.channels - 1})",
        "global_regression": f"{s.channels}-vector",
        "global_classification": f"class id (0..{s.channels - 1})",
        "multilabel": f"{s.channels} binary labels",
    }[s.target]
    views = "" if s.views == 1 else f"; input: {s.views} views"
    mask = "; masked" if s.masked else ""
    return f"{shape}: {s.units}{views}{mask}"


def task_table_markdown() -> str:
    """The task table of ``docs/tasks.md`` (task | group | input | target | loss | how | baseline)."""
    rows = []
    for k, name in enumerate(TASKS):
        s = TASK_SPECS[name]
        base = "mean target" + (" (per pixel)" if s.dense else "") if s.baseline == "mean" else \
            "majority class" + (" (per pixel)" if s.dense else "")
        cells = [str(k), f"`{name}`", s.group, s.input, _target_text(s), s.loss, s.description, base]
        rows.append([c.replace("|", "\\|") for c in cells])
    header = ["#", "task", "group", "input", "target", "loss", "how it is computed", "trivial baseline"]
    return markdown_table(header, rows) + "\n"
