"""The task table and the shape/dtype/range contract of every task's ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vision_gt_synth import Box, BoxWorldRenderer, box_world

from navfusion.errors import NavFusionError
from navfusion.render.camera import Camera
from navfusion.vision.ground_truth import TASK_BUFFERS, TaskBatch, buffers_for, compute_targets, make_sample
from navfusion.vision.sampling import render_task_batches
from navfusion.vision.tasks import GROUPS, TASK_SPECS, TASKS, list_tasks, single_view_tasks, task_spec

DESIGN_ORDER = [
    "autoencoding", "colorization", "curvature", "denoising", "edge_texture", "edge_occlusion", "egomotion",
    "fixated_pose", "inpainting", "jigsaw", "keypoints2d", "keypoints3d", "nonfixated_pose", "point_matching",
    "reshading", "depth_zbuffer", "depth_euclidean", "normal", "room_layout", "segment_unsup2d",
    "segment_unsup25d", "segment_semantic", "class_object", "class_scene", "vanishing_point"
]


def test_task_names_and_order_match_design():
    assert list(TASKS) == DESIGN_ORDER
    assert len(set(TASKS)) == 25


def test_groups_follow_taskonomy():
    assert {TASK_SPECS[t].group for t in TASKS} == set(GROUPS)
    assert set(list_tasks(group="semantic")) == {"segment_semantic", "class_object", "class_scene"}
    for t in ("depth_zbuffer", "depth_euclidean", "normal", "curvature", "reshading", "edge_occlusion",
              "keypoints3d", "segment_unsup25d"):
        assert task_spec(t).group == "3d"
    for t in ("autoencoding", "colorization", "denoising", "edge_texture", "inpainting", "keypoints2d",
              "segment_unsup2d", "jigsaw"):
        assert task_spec(t).group == "2d"
    for t in ("vanishing_point", "egomotion", "fixated_pose", "nonfixated_pose", "point_matching", "room_layout"):
        assert task_spec(t).group == "geometric"
    assert list_tasks("depth_*") == ["depth_zbuffer", "depth_euclidean"]
    assert len(single_view_tasks()) == 21


def test_unknown_task_suggests():
    with pytest.raises(NavFusionError, match="depth_zbuffer"):
        task_spec("depth_zbufer")
    with pytest.raises(NavFusionError, match="groups"):
        list_tasks(group="3D-ish")


def test_spec_consistency():
    for t in TASKS:
        s = task_spec(t)
        assert s.views == (3 if t == "egomotion" else 2 if t in ("fixated_pose", "nonfixated_pose",
                                                                   "point_matching") else 1)
        if s.classification:
            assert s.loss == "ce" and s.baseline == "majority"
        else:
            assert s.baseline == "mean"
        assert s.description
    assert buffers_for(["normal", "segment_semantic"]) == ("rgb", "depth_z", "normal", "semantic")
    assert set(TASK_BUFFERS) == set(TASKS)


@pytest.fixture(scope="module")
def world_batches():
    scene = box_world(boxes=[Box((2.6, 0.4, 0.0), (3.4, 1.2, 0.9), "table"), Box((0.4, 2.0, 0.0), (1.0, 2.6, 0.5),
                                                                               "chair")])
    cam = Camera(width=48, height=48)
    renderer = BoxWorldRenderer(scene, cam)
    batches = render_task_batches(renderer, scene, TASKS, 6, np.random.default_rng(3))
    return scene, cam, renderer, batches


def test_every_task_shape_dtype_range(world_batches):
    _, cam, _, batches = world_batches
    h, w = cam.height, cam.width
    assert list(batches) == list(TASKS)
    for t, b in batches.items():
        s = task_spec(t)
        n = 6
        assert isinstance(b, TaskBatch) and len(b) == n
        assert b.inputs.dtype == np.float32
        assert b.inputs.shape == ((n, 3, h, w) if s.views == 1 else (n, s.views, 3, h, w)), t
        assert b.inputs.min() >= 0.0 and b.inputs.max() <= 1.0, t
        tg = b.target
        if s.target == "dense_regression":
            assert tg.shape == (n, s.channels, h, w) and tg.dtype == np.float32, t
        elif s.target == "dense_classification":
            assert tg.shape == (n, h, w) and tg.dtype == np.int64, t
        elif s.target == "global_classification":
            assert tg.shape == (n,) and tg.dtype == np.int64, t
        else:
            assert tg.shape == (n, s.channels) and tg.dtype == np.float32, t
        if s.classification:
            assert tg.min() >= 0 and tg.max() < s.channels, t
        if s.target == "multilabel":
            assert set(np.unique(tg)) <= {0.0, 1.0}
        if s.value_range is not None:
            lo, hi = s.value_range
            assert tg.min() >= lo - 1e-5 and tg.max() <= hi + 1e-5, (t, tg.min(), tg.max())
        assert np.isfinite(tg).all(), t
        if s.masked:
            assert b.mask is not None and b.mask.shape == (n, h, w) and b.mask.dtype == bool, t
            assert b.mask.any(), t
        else:
            assert b.mask is None, t


def test_relational_inputs_are_distinct_views(world_batches):
    _, _, _, batches = world_batches
    for t in ("egomotion", "fixated_pose", "nonfixated_pose", "point_matching"):
        x = batches[t].inputs
        assert not np.allclose(x[:, 0], x[:, 1]), t
    # the base views are shared with the single-view tasks
    np.testing.assert_array_equal(batches["egomotion"].inputs[:, 0], batches["autoencoding"].inputs)


def test_point_matching_has_both_labels(world_batches):
    _, _, _, batches = world_batches
    assert set(batches["point_matching"].target.tolist()) == {0, 1}


def test_render_task_batches_deterministic(world_batches):
    scene, cam, _, batches = world_batches
    again = render_task_batches(BoxWorldRenderer(scene, cam), scene, TASKS, 6, np.random.default_rng(3))
    for t in TASKS:
        np.testing.assert_array_equal(again[t].inputs, batches[t].inputs, err_msg=t)
        np.testing.assert_array_equal(again[t].target, batches[t].target, err_msg=t)
    other = render_task_batches(BoxWorldRenderer(scene, cam), scene, ["denoising"], 6, np.random.default_rng(4))
    assert not np.array_equal(other["denoising"].inputs, batches["denoising"].inputs)


def test_make_sample_matches_batch(world_batches):
    scene, cam, renderer, _ = world_batches
    from navfusion.vision.sampling import render_view_sets, sample_poses

    base = sample_poses(scene, 3, np.random.default_rng(0), cam)
    poses, frames = render_view_sets(renderer, scene, "nonfixated_pose", base, np.random.default_rng(1))
    full = compute_targets("nonfixated_pose", frames, poses, scene, cam, np.random.default_rng(2))
    x, y, m = make_sample("nonfixated_pose", frames, 1, poses, scene, cam, np.random.default_rng(2))
    assert x.shape == (2, 3, cam.height, cam.width) and m is None
    np.testing.assert_allclose(y, full.target[1])
    x, y, m = make_sample("depth_zbuffer", frames, 0, poses, scene, cam, np.random.default_rng(2))
    assert x.shape == (3, cam.height, cam.width) and y.shape == (1, cam.height, cam.width) and m.shape == y.shape[1:]


def test_missing_buffer_is_named():
    from vision_gt_synth import plane_frames

    fr = plane_frames(np.full((8, 8), 2.0, np.float32), (0, 0, 1))
    fr.normal = None
    from navfusion.render.camera import Poses

    with pytest.raises(NavFusionError, match="normal"):
        compute_targets("reshading", fr, Poses([[0, 0, 1.25]], [0.0]), None, Camera(width=8, height=8),
                        np.random.default_rng(0))


def test_sample_poses_free_and_at_eye_height():
    from navfusion.vision.sampling import FreeSpace, PoseSampling, sample_poses

    scene = box_world(boxes=[Box((1.0, 1.0, 0.0), (3.0, 2.0, 1.0), "bed")])
    cam = Camera()
    p = sample_poses(scene, 200, np.random.default_rng(0), cam, PoseSampling(clearance=0.3))
    xy = p.positions[:, :2]
    assert (xy[:, 0] >= 0.3).all() and (xy[:, 0] <= 3.7).all() and (xy[:, 1] >= 0.3).all() and (xy[:, 1] <= 2.7).all()
    in_bed = (xy[:, 0] > 0.7) & (xy[:, 0] < 3.3) & (xy[:, 1] > 0.7) & (xy[:, 1] < 2.3)
    assert not in_bed.any()
    assert np.all(np.abs(p.positions[:, 2] - cam.eye_height) <= 0.1 + 1e-9)
    assert np.all(np.abs(p.pitches) <= math.radians(10) + 1e-9)
    assert p.yaws.std() > 1.0  # yaw is spread over the circle
    space = FreeSpace(scene, 0.3, cam.eye_height)
    assert all(space.free(q) for q in p.positions)


def test_docs_task_table_in_sync():
    from pathlib import Path

    from navfusion.vision.tasks import task_table_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "tasks.md").read_text(encoding="utf-8")
    assert task_table_markdown() in doc, "docs/tasks.md is stale: paste navfusion.vision.tasks.task_table_markdown()"


def test_sample_poses_on_given_nodes():
    from navfusion.vision.sampling import sample_poses

    scene = box_world()
    nodes = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [3.0, 1.5, 0.0]])
    p = sample_poses(scene, 50, np.random.default_rng(0), Camera(), nodes=nodes)
    assert {tuple(x) for x in p.positions[:, :2]} == {tuple(x) for x in nodes[:, :2]}
    with pytest.raises(NavFusionError, match="nodes"):
        sample_poses(scene, 5, np.random.default_rng(0), nodes=np.zeros((0, 3)))


def test_preview_image_has_a_column_per_target(world_batches, tmp_path):
    from navfusion.vision.gt_preview import preview_image, save_preview

    _, cam, _, batches = world_batches
    img = preview_image(batches, samples=2, camera=cam)
    extra_inputs = sum(1 for t in TASKS if task_spec(t).input != "rgb" or task_spec(t).views > 1)
    assert img.dtype == np.uint8 and img.shape[1] == (25 + extra_inputs) * cam.width
    assert img.shape[0] > 2 * cam.height
    save_preview(batches, tmp_path / "gt.png", 2, cam)
    assert (tmp_path / "gt.png").stat().st_size > 1000
