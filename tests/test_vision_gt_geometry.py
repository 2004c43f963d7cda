"""Dense 3D ground truth on scenes with known geometry."""

from __future__ import annotations

import math

import numpy as np
from vision_gt_synth import Box, box_world, plane_frames, render_box_world

from navfusion.render.camera import Camera, Poses
from navfusion.vision import gt_geometry as geo
from navfusion.vision.ground_truth import compute_targets

CAM = Camera(width=64, height=64)


def _targets(task, frames, poses, scene=None, cam=CAM, seed=0):
    return compute_targets(task, frames, poses, scene, cam, np.random.default_rng(seed))


def test_depth_and_normal_of_known_wall():
    scene = box_world()
    # level camera at x=1 looking east (+x) at the wall x=4: z-depth 3 m at every wall pixel
    poses = Poses([[1.0, 1.5, 1.25]], [0.0])
    fr = render_box_world(scene, poses, CAM)
    d = _targets("depth_zbuffer", fr, poses).target[0, 0]
    assert abs(d[32, 32] - 3.0) < 1e-5
    e = _targets("depth_euclidean", fr, poses).target[0, 0]
    np.testing.assert_array_equal(e, fr.depth_euclidean[0])
    assert e[0, 0] > d[0, 0]  # off-axis Euclidean depth is longer
    n = _targets("normal", fr, poses).target[0]
    np.testing.assert_allclose(n[:, 32, 32], [0, 0, 1], atol=1e-6)  # wall faces the camera
    np.testing.assert_allclose(n[:, 63, 32], [0, 1, 0], atol=1e-6)  # floor points up in the camera frame
    # pitched down 30 degrees: the floor normal tilts towards the camera (+z) in the camera frame
    poses_p = Poses([[1.0, 1.5, 1.25]], [0.0], [math.radians(-30)])
    n2 = _targets("normal", render_box_world(scene, poses_p, CAM), poses_p).target[0]
    np.testing.assert_allclose(n2[:, 60, 32], [0, math.cos(math.radians(30)), math.sin(math.radians(30))], atol=1e-6)


def test_reshading_facing_light_is_brighter():
    h = w = 16
    depth = np.full((h, w), 2.0, np.float32)
    facing = plane_frames(depth, geo.LIGHT_DIR.astype(np.float32))
    away = plane_frames(depth, np.array([-0.3, -0.5, 0.81], np.float32) / np.linalg.norm([-0.3, -0.5, 0.81]))
    cam = Camera(width=w, height=h)
    poses = Poses([[0, 0, 1.25]], [0.0])
    s_face = _targets("reshading", facing, poses, cam=cam).target[0, 0]
    s_away = _targets("reshading", away, poses, cam=cam).target[0, 0]
    np.testing.assert_allclose(s_face, 1.0, atol=1e-6)
    assert (s_away < s_face - 0.3).all()
    # no surface, no shading, and masked out
    empty = plane_frames(np.zeros((h, w), np.float32), (0, 0, 1))
    b = _targets("reshading", empty, poses, cam=cam)
    assert b.target.max() == 0 and not b.mask.any()


def test_occlusion_edges_fire_at_depth_step_not_on_planes():
    scene = box_world(boxes=[Box((2.5, 1.0, 0.0), (3.0, 2.0, 2.0), "cabinet")])
    poses = Poses([[0.5, 1.5, 1.25]], [0.0])
    fr = render_box_world(scene, poses, CAM)
    e = geo.occlusion_edges_binary(fr.depth_z[0], fr.normal[0], CAM)
    # the cabinet's front face spans columns around the centre; its left/right silhouettes are edges
    row = 32
    depth_row = fr.depth_z[0, row]
    jumps = np.nonzero(np.abs(np.diff(depth_row)) > 0.5)[0]
    assert len(jumps) == 2
    for j in jumps:
        near = j if depth_row[j] < depth_row[j + 1] else j + 1
        assert e[row, near]  # the occluding (near) side is marked
    # a flat slanted plane (the floor seen at a grazing angle) and the wall/floor crease are not edges
    poses_floor = Poses([[0.5, 1.5, 1.25]], [0.0], [math.radians(-40)])
    fr2 = render_box_world(box_world(), poses_floor, CAM)
    assert geo.occlusion_edges_binary(fr2.depth_z[0], fr2.normal[0], CAM).sum() == 0
    soft = _targets("edge_occlusion", fr, poses).target[0, 0]
    assert soft[row, jumps[0]:jumps[0] + 2].max() > 0.9 and soft[5:15, 5:15].max() == 0.0


def _sphere_frames(radius: float, dist: float, cam: Camera):
    """A sphere of ``radius`` centred ``dist`` in front of the camera (camera frame), exact depth and normals."""
    rays = geo.pixel_rays(cam)
    c = np.array([0.0, 0.0, -dist])
    a = (rays * rays).sum(-1)
    b = -2 * (rays @ c)
    disc = b * b - 4 * a * (c @ c - radius**2)
    t = np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), 0.0)
    p = rays * t[..., None]
    n = np.where((t > 0)[..., None], (p - c) / radius, 0.0)
    return plane_frames(t.astype(np.float32), n.astype(np.float32))


def test_curvature_plane_zero_sphere_one_over_r():
    cam = Camera(width=96, height=96)
    poses = Poses([[0, 0, 1.25]], [0.0])
    plane = plane_frames(np.full((96, 96), 2.0, np.float32), (0, 0, 1))
    b = _targets("curvature", plane, poses, cam=cam)
    assert b.target.shape == (1, 2, 96, 96)
    assert np.abs(b.target[0][:, b.mask[0]]).max() < 1e-6
    r = 0.5
    b = _targets("curvature", _sphere_frames(r, 2.0, cam), poses, cam=cam)
    m = b.mask[0]
    assert m[48, 48] and not m[0, 0]  # on the sphere valid; empty space masked
    expect = math.tanh(geo.CURVATURE_SCALE / r)
    k = b.target[0][:, m]
    np.testing.assert_allclose(np.median(k, axis=1), [expect, expect], atol=0.02)
    assert (k[0] >= k[1] - 1e-6).all()


def test_curvature_sign_convex_vs_concave_crease():
    scene = box_world(boxes=[Box((2.0, 1.0, 0.0), (2.6, 2.0, 1.0), "cabinet")])
    # camera above and in front, looking down at the cabinet's top front edge (convex)
    poses = Poses([[1.0, 1.5, 1.8]], [0.0], [math.radians(-35)])
    fr = render_box_world(scene, poses, CAM)
    curv, mask = geo.curvature(fr.depth_z[0], fr.normal[0], CAM)
    inst = fr.instance[0]
    cab = mask & (inst == 1)
    assert curv[0][cab].max() > 0.9  # the convex edge between top and front
    room = mask & (inst == 0)
    assert curv[1][room].min() < -0.9  # the concave crease between wall and floor


def test_keypoints3d_peak_at_room_corner_not_on_flat_wall():
    scene = box_world()
    # look straight at the vertical corner x=4, y=3 from the room's centre, pitched up to see the ceiling corner
    pos = np.array([2.0, 1.5, 1.25])
    yaw = math.atan2(3 - 1.5, 4 - 2.0)
    poses = Poses([pos], [yaw], [math.radians(15)])
    fr = render_box_world(scene, poses, CAM)
    kp = _targets("keypoints3d", fr, poses).target[0, 0]
    # the 3-plane corner (walls + ceiling) projects to:
    rot = poses.rotations()[0]
    pc = rot.T @ (np.array([4.0, 3.0, 2.5]) - pos)
    u, v = CAM.cx + CAM.fx * pc[0] / -pc[2], CAM.cy - CAM.fy * pc[1] / -pc[2]
    vi, ui = int(v), int(u)
    assert kp[vi - 3:vi + 4, ui - 3:ui + 4].max() > 0.5  # a keypoint at the 3-plane corner
    # halfway down the vertical wall/wall crease (two planes only) there is none
    pf = rot.T @ (np.array([4.0, 3.0, 1.6]) - pos)
    uf, vf = CAM.cx + CAM.fx * pf[0] / -pf[2], CAM.cy - CAM.fy * pf[1] / -pf[2]
    assert kp[int(vf) - 2:int(vf) + 3, int(uf) - 2:int(uf) + 3].max() < 0.05
    # a flat wall straight ahead: no 3D keypoints at all
    poses_flat = Poses([[3.0, 1.5, 1.25]], [0.0])
    fr2 = render_box_world(scene, poses_flat, Camera(width=32, height=32, hfov_deg=40))
    kp2 = _targets("keypoints3d", fr2, poses_flat, cam=Camera(width=32, height=32, hfov_deg=40)).target
    assert kp2.max() < 1e-3


def test_segment_unsup25d_boundary_at_depth_step():
    h = w = 48
    depth = np.full((h, w), 3.0, np.float32)
    depth[:, 24:] = 1.0  # near box on the right half
    fr = plane_frames(depth, (0, 0, 1))
    b = _targets("segment_unsup25d", fr, Poses([[0, 0, 1.25]], [0.0]), cam=Camera(width=w, height=h)).target[0, 0]
    assert b[:, 22:26].any(axis=1).all()  # every row has a boundary at the depth step
    assert set(np.unique(b)) <= {0.0, 1.0}


def test_segment_unsup25d_one_segment_per_plane():
    # the east wall seen at 30° from 1 m away: depth changes a lot across it, but it is one plane
    scene = box_world()
    poses = Poses([[3.0, 0.5, 1.25]], [math.radians(30)], [0.0])
    cam = Camera(width=48, height=48, hfov_deg=40)  # sees only that wall
    fr = render_box_world(scene, poses, cam)
    assert (fr.instance[0] == 0).all() and (np.abs(fr.normal[0][..., 2] - fr.normal[0, 0, 0, 2]) < 1e-6).all()
    assert fr.depth_z[0].max() > 1.4 * fr.depth_z[0].min()
    b = _targets("segment_unsup25d", fr, poses, cam=cam).target[0, 0]
    assert b.max() == 0.0
