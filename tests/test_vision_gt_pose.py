"""Pose-derived ground truth: vanishing points, room layout, scene class, relative poses, point matching."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vision_gt_synth import Box, box_world, render_box_world

from navfusion.common import ROOM_TYPES
from navfusion.render.camera import Camera, Poses, camera_rotation
from navfusion.scenes.scene import Room
from navfusion.vision import gt_pose as gp
from navfusion.vision.ground_truth import compute_targets
from navfusion.vision.sampling import view_set_poses

CAM = Camera(width=64, height=64)


def test_vanishing_point_level_camera_yaw0_at_image_centre():
    scene = box_world()
    v = gp.vanishing_directions(scene, [1.0, 1.0, 1.25], 0.0, 0.0)
    np.testing.assert_allclose(v, [[0, 0, -1], [1, 0, 0], [0, 1, 0]], atol=1e-6)
    uv = gp.vanishing_points_px(v, CAM)
    np.testing.assert_allclose(uv[0], [CAM.cx, CAM.cy], atol=1e-6)
    # through compute_targets (flattened rows)
    poses = Poses([[1.0, 1.0, 1.25]], [0.0])
    t = compute_targets("vanishing_point", render_box_world(scene, poses, CAM), poses, scene, CAM,
                        np.random.default_rng(0)).target[0]
    np.testing.assert_allclose(t, [0, 0, -1, 1, 0, 0, 0, 1, 0], atol=1e-6)


@pytest.mark.parametrize("yaw_deg", [-40.0, -20.0, 10.0, 30.0])
def test_vanishing_point_follows_yaw(yaw_deg):
    scene = box_world()
    yaw = math.radians(yaw_deg)
    v = gp.vanishing_directions(scene, [1.0, 1.0, 1.25], yaw, 0.0)
    u, row = gp.vanishing_points_px(v, CAM)[0]
    # turning left (yaw > 0) moves the room's +x vanishing point to the right of the centre
    assert abs(u - (CAM.cx + CAM.fx * math.tan(yaw))) < 1e-4 and abs(row - CAM.cy) < 1e-4
    # a room rotated by the same angle looks like the unrotated room at yaw 0
    rot = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    turned = box_world()
    turned.rooms = [Room(0, "bedroom", np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float) @ rot.T)]
    np.testing.assert_allclose(gp.vanishing_directions(turned, [0.5, 1.0, 1.25], yaw, 0.0),
                               [[0, 0, -1], [1, 0, 0], [0, 1, 0]], atol=1e-6)


def test_vanishing_point_with_pitch_and_past_45_degrees():
    scene = box_world()
    # looking up 20°: the vertical tilts towards the view direction (-z), its vanishing point is
    # above the image centre, and the horizon (forward vanishing point) drops below the centre
    v = gp.vanishing_directions(scene, [1, 1, 1.25], 0.0, math.radians(20))
    np.testing.assert_allclose(v[2], [0, math.cos(math.radians(20)), -math.sin(math.radians(20))], atol=1e-6)
    vp = gp.vanishing_points_px(v, CAM)
    assert vp[0][1] > CAM.cy and vp[2][1] < CAM.cy
    # at yaw 60° the +y wall axis is the closer one: forward row must still be in front of the camera
    v = gp.vanishing_directions(scene, [1, 1, 1.25], math.radians(60), 0.0)
    assert v[0][2] < -0.8 and v[1][0] > 0.8
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)


def test_room_layout_known_distances():
    scene = box_world()  # room [0,4] x [0,3], floor 0, ceiling 2.5
    t = gp.room_layout(scene, [1.0, 1.0, 1.25], 0.0, 0.0)
    np.testing.assert_allclose(t, [3, 1, 2, 1, 1.25, 1.25, 0, 1, 0], atol=1e-6)
    # facing north (+y): front = 3-1, back = 1, left = west wall 1, right = east wall 3
    t = gp.room_layout(scene, [1.0, 1.0, 1.25], math.pi / 2 + 0.1, -0.2)
    np.testing.assert_allclose(t[:6], [2, 1, 1, 3, 1.25, 1.25], atol=1e-6)
    np.testing.assert_allclose(t[6:], [math.sin(0.4), math.cos(0.4), -0.2], atol=1e-6)


def test_scene_class_from_room_of_camera():
    scene = box_world(room_type="kitchen")
    scene.rooms.append(Room(1, "office", np.array([[4, 0], [8, 0], [8, 3], [4, 3]], float)))
    assert gp.scene_class(scene, [1, 1, 1.25]) == ROOM_TYPES.index("kitchen")
    assert gp.scene_class(scene, [5, 1, 1.25]) == ROOM_TYPES.index("office")
    assert gp.scene_class(scene, [8.2, 1, 1.25]) == ROOM_TYPES.index("office")  # nearest room
    assert gp.manhattan_angle(np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float)) == pytest.approx(0.0)


def test_egomotion_of_pure_yaw_equals_the_yaw():
    d = math.radians(25)
    p = np.array([1.0, 1.0, 1.25])
    poses = Poses([p, p, p], [0.3, 0.3 + d, 0.3 + 2 * d])
    t = gp.relative_poses(poses, 3)[0]
    np.testing.assert_allclose(t, [0, 0, 0, 0, d, 0, 0, 0, 0, 0, 2 * d, 0], atol=1e-6)
    # a 0.5 m step forward: -z in the first camera's frame; a step to the right: +x
    fwd = np.array([math.cos(0.3), math.sin(0.3), 0.0])
    right = camera_rotation(0.3)[:, 0]
    poses = Poses([p, p + 0.5 * fwd, p + 0.5 * fwd + 0.2 * right], [0.3] * 3)
    t = gp.relative_poses(poses, 3)[0]
    np.testing.assert_allclose(t, [0, 0, -0.5, 0, 0, 0, 0.2, 0, -0.5, 0, 0, 0], atol=1e-6)


def test_pose_tasks_through_compute_targets():
    scene = box_world()
    p = np.array([1.0, 1.5, 1.25])
    poses = Poses([p, p], [0.0, 0.2])
    fr = render_box_world(scene, poses, CAM)
    for task in ("nonfixated_pose", "fixated_pose"):
        t = compute_targets(task, fr, poses, scene, CAM, np.random.default_rng(0)).target
        np.testing.assert_allclose(t, [[0, 0, 0, 0, 0.2, 0]], atol=1e-6)


def test_point_matching_same_point_positive_other_negative():
    scene = box_world(boxes=[Box((2.0, 2.2, 0.0), (2.4, 2.6, 2.0), "shelf")])
    cam = CAM
    p0 = np.array([0.5, 1.5, 1.25])
    poses0 = Poses([p0], [0.0])
    f0 = render_box_world(scene, poses0, cam)
    c = gp.center_point(f0.depth_z[0], cam)
    world = p0 + poses0.rotations()[0] @ c
    assert abs(world[0] - 4.0) < 1e-6  # the centre pixel sees the east wall
    # a second camera elsewhere looking at that same point: positive
    p1 = np.array([1.5, 0.6, 1.0])
    yaw1 = math.atan2(world[1] - p1[1], world[0] - p1[0])
    pitch1 = math.atan2(world[2] - p1[2], math.hypot(*(world[:2] - p1[:2])))
    # a third camera at the same place looking 20° away: negative
    poses = Poses([p0, p1, p0, p1], [0.0, yaw1, 0.0, yaw1 + math.radians(20)], [0.0, pitch1, 0.0, pitch1])
    fr = render_box_world(scene, poses, cam)
    lab = compute_targets("point_matching", fr, poses, scene, cam, np.random.default_rng(0)).target
    assert lab.tolist() == [1, 0]
    # occluded: the same direction, but the shelf stands in front of the point
    p2 = np.array([1.4, 3.0 - 0.3, 1.25])
    poses_occ = Poses([p0, p2], [0.0, math.atan2(world[1] - p2[1], world[0] - p2[0])],
                      [0.0, math.atan2(world[2] - p2[2], math.hypot(*(world[:2] - p2[:2])))])
    fr_occ = render_box_world(scene, poses_occ, cam)
    rots = poses_occ.rotations()
    assert fr_occ.depth_z[1, 32, 32] < np.linalg.norm(world - p2) - 0.5  # something is in front
    assert gp.point_match_label(fr_occ.depth_z[0], (p0, rots[0]), fr_occ.depth_z[1], (p2, rots[1]), cam) == 0


def test_fixated_view_sets_look_at_the_centre_point():
    scene = box_world()
    base = Poses([[1.0, 1.0, 1.25], [2.0, 2.0, 1.25]], [0.2, -2.0], [0.0, 0.1])
    depth = render_box_world(scene, base, CAM).depth_z
    poses = view_set_poses(scene, "fixated_pose", base, np.random.default_rng(0), base_depth=depth, camera=CAM)
    assert len(poses) == 4
    rots = poses.rotations()
    for s in range(2):
        c = gp.center_point(depth[s], CAM)
        world = base.positions[s] + base.rotations()[s] @ c
        q = rots[2 * s + 1].T @ (world - poses.positions[2 * s + 1])
        uv, z = gp.project(q, CAM)
        assert z > 0 and np.abs(uv - [CAM.cx, CAM.cy]).max() < 1e-6
        assert np.linalg.norm(poses.positions[2 * s + 1] - base.positions[s]) > 1e-3  # it moved
    fr = render_box_world(scene, poses, CAM)
    assert compute_targets("point_matching", fr, poses, scene, CAM, np.random.default_rng(0)).target.tolist() == [1, 1]


def test_egomotion_view_sets_are_nearby_and_free():
    from navfusion.vision.sampling import FreeSpace, PoseSampling

    scene = box_world()
    base = Poses([[1.0, 1.0, 1.25], [3.0, 2.0, 1.25]], [0.0, 1.0])
    s = PoseSampling(max_step=0.5, max_turn_deg=20)
    poses = view_set_poses(scene, "egomotion", base, np.random.default_rng(1), camera=CAM, settings=s)
    assert len(poses) == 6
    space = FreeSpace(scene, s.clearance, CAM.eye_height)
    for k in range(2):
        a, b, c = poses.positions[3 * k:3 * k + 3]
        assert np.linalg.norm(b - a) <= 0.5 + 1e-9 and np.linalg.norm(c - b) <= 0.5 + 1e-9
        assert all(space.free(x) for x in (b, c))
        ya, yb, yc = poses.yaws[3 * k:3 * k + 3]
        assert abs(yb - ya) <= math.radians(20) + 1e-9 and abs(yc - yb) <= math.radians(20) + 1e-9
