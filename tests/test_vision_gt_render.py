"""Ground truth on frames from the real renderer (known box room; the furnished test apartment under slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from navfusion.render import base as render_base
from navfusion.render import testscene
from navfusion.render.camera import Camera, Poses
from navfusion.vision import gt_pose as gp
from navfusion.vision.ground_truth import compute_targets
from navfusion.vision.tasks import TASKS, task_spec


@pytest.fixture(scope="module")
def box_renderer():
    scene = testscene.box_room()  # room [0, 4] x [0, 3], floor 0, ceiling 2.5
    r = render_base.create_renderer(scene, Camera(width=48, height=48), backend="auto")
    yield scene, r
    r.close()


def test_known_room_targets_from_renderer(box_renderer):
    scene, r = box_renderer
    cam = r.camera
    poses = Poses([[1.0, 1.5, 1.25], [1.0, 1.5, 1.25]], [0.0, math.radians(30)], [0.0, 0.0])
    fr = r.render(poses)
    rng = np.random.default_rng(0)
    d = compute_targets("depth_zbuffer", fr, poses, scene, cam, rng)
    assert abs(d.target[0, 0, 24, 24] - 3.0) < 0.02  # the east wall, 3 m ahead
    n = compute_targets("normal", fr, poses, scene, cam, rng).target
    np.testing.assert_allclose(n[0, :, 46, 24], [0, 1, 0], atol=0.02)  # the floor points up
    v = compute_targets("vanishing_point", fr, poses, scene, cam, rng).target.reshape(2, 3, 3)
    uv = gp.vanishing_points_px(v[1], cam)
    assert abs(uv[0][0] - (cam.cx + cam.fx * math.tan(math.radians(30)))) < 1e-3  # follows the yaw
    occ = compute_targets("edge_occlusion", fr, poses, scene, cam, rng).target
    assert occ.max() == 0.0  # an empty room has creases but no occlusions
    lay = compute_targets("room_layout", fr, poses, scene, cam, rng).target
    np.testing.assert_allclose(lay[0, :6], [3.0, 1.0, 1.5, 1.5, 1.25, 1.25], atol=1e-5)


@pytest.mark.slow
def test_all_tasks_on_test_apartment():
    from navfusion.vision.sampling import render_task_batches

    scene = testscene.apartment()
    r = render_base.create_renderer(scene, Camera(width=64, height=64), backend="auto")
    try:
        batches = render_task_batches(r, scene, TASKS, 16, np.random.default_rng(0))
    finally:
        r.close()
    for t, b in batches.items():
        s = task_spec(t)
        assert len(b) == 16 and np.isfinite(b.target).all(), t
        if s.value_range is not None:
            assert b.target.min() >= s.value_range[0] - 1e-5 and b.target.max() <= s.value_range[1] + 1e-5, t
        if s.dense and not s.classification and t not in ("keypoints2d",):
            assert b.target.std() > 0, t  # targets vary over real views
    assert set(batches["point_matching"].target.tolist()) == {0, 1}
    assert len(set(batches["class_scene"].target.tolist())) > 1


@pytest.mark.slow
def test_generated_scene_views_are_free_and_targets_sane():
    from navfusion.scenes import generator
    from navfusion.vision.sampling import render_task_batches, sample_poses

    scene = generator.generate_scene(seed=1)
    cam = Camera(width=48, height=48)
    r = render_base.create_renderer(scene, cam, backend="auto")
    try:
        poses = sample_poses(scene, 60, np.random.default_rng(0), cam)
        d = r.render(poses).depth_z.reshape(60, -1)
        assert (d > 0).all()  # inside closed rooms every pixel hits something
        assert d.min() > 0.15  # never inside or against furniture
        batches = render_task_batches(r, scene, ["class_scene", "room_layout", "point_matching"], 12,
                                      np.random.default_rng(1))
    finally:
        r.close()
    lay = batches["room_layout"].target
    assert (lay[:, :4] > 0.2).all()  # the camera is inside its room, away from the walls
    assert set(batches["point_matching"].target.tolist()) == {0, 1}
