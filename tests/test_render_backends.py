"""The gl and raycast backends agree on depth, ids and normals (and roughly on colour)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from navfusion.render import Camera, Poses, create_renderer, egl_available
from navfusion.render.testscene import apartment

pytestmark = pytest.mark.skipif(not egl_available(), reason="no EGL context can be made here")


def _poses() -> Poses:
    # level views from room centres, views grazing door frames and chair/table legs, tilted views
    pos = [(2.5, 2.5, 1.25), (7.5, 2.5, 1.25), (12.5, 7.5, 1.25), (4.4, 2.5, 1.25), (1.0, 2.2, 0.3),
           (2.0, 1.2, 0.5), (9.6, 5.7, 1.6), (6.0, 6.0, 1.0), (13.0, 3.0, 2.0), (3.0, 8.0, 0.8),
           (5.0, 2.5, 1.25), (10.2, 5.2, 1.25)]
    yaws = [0.3, 2.0, -2.4, 0.0, 0.2, 0.9, -1.4, 3.9, 1.1, -0.6, math.pi / 2, math.pi]
    pitch = [0.0, 0.0, 0.0, 0.0, 0.2, 0.4, -0.5, -0.2, -0.7, 0.3, 0.0, 0.1]
    return Poses(np.array(pos), np.array(yaws), np.array(pitch))


def _agreement(a, b) -> dict:
    both = (a.depth_z > 0) & (b.depth_z > 0)
    cosang = np.clip((a.normal * b.normal).sum(-1), -1, 1)
    return {
        "hit": float(((a.depth_z > 0) == (b.depth_z > 0)).mean()),
        "depth_z": float((np.abs(a.depth_z - b.depth_z) <= 0.01).mean()),
        "depth_euclidean": float((np.abs(a.depth_euclidean - b.depth_euclidean) <= 0.01).mean()),
        "semantic": float((a.semantic == b.semantic).mean()),
        "instance": float((a.instance == b.instance).mean()),
        "normal": float((cosang[both] >= math.cos(math.radians(5))).mean()),
        "rgb": float((np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max(-1) <= 16).mean()),
    }


@pytest.mark.parametrize("resolution", [48, 96])
def test_backends_agree_on_test_apartment(resolution):
    scene = apartment()
    cam = Camera(resolution, resolution)
    poses = _poses()
    with create_renderer(scene, cam, "gl") as g, create_renderer(scene, cam, "raycast") as r:
        fg, fr = g.render(poses), r.render(poses)
    agree = _agreement(fg, fr)
    # every pixel counts (no exclusion at depth discontinuities): both sample pixel centres
    for key in ("hit", "depth_z", "depth_euclidean", "semantic", "instance", "normal"):
        assert agree[key] >= 0.99, (key, agree)
    assert agree["rgb"] >= 0.95, agree  # colours are approximate twins (GLSL vs numpy), not required equal
    assert fg.semantic.max() > 3 and len(np.unique(fg.instance)) > 10  # the views do see furniture


def test_backends_agree_on_generated_scene(nf_cache):
    from navfusion.cli.bench.render import node_poses
    from navfusion.scenes.suites import load_scene

    scene = load_scene("tiny/train/0")
    cam = Camera(64, 64)
    poses = node_poses(scene, 3, cam.eye_height, np.random.default_rng(0))
    with create_renderer(scene, cam, "gl") as g, create_renderer(scene, cam, "raycast") as r:
        agree = _agreement(g.render(poses), r.render(poses))
    for key in ("hit", "depth_z", "depth_euclidean", "semantic", "instance", "normal"):
        assert agree[key] >= 0.99, (key, agree)


def test_views_batched_equal_views_one_by_one():
    scene = apartment()
    cam = Camera(40, 40)
    poses = _poses()
    with create_renderer(scene, cam, "gl", max_views_per_pass=5) as g:
        batched = g.render(poses)
        single = [g.render(Poses(poses.positions[i:i + 1], poses.yaws[i:i + 1], poses.pitches[i:i + 1]))
                  for i in range(len(poses))]
    # bands of the pass atlas round differently, so batches match single views to float precision;
    # a pixel centre exactly on an edge between two faces of one box may go to either face
    for b in ("depth_z", "depth_euclidean"):
        np.testing.assert_allclose(getattr(batched, b), np.concatenate([getattr(s, b) for s in single]), atol=1e-4)
    same_normal = np.abs(batched.normal - np.concatenate([s.normal for s in single])).max(-1) <= 1e-4
    assert same_normal.mean() > 0.999
    for b in ("semantic", "instance"):
        assert (getattr(batched, b) == np.concatenate([getattr(s, b) for s in single])).mean() > 0.999


def test_wall_occlusion_culls_but_changes_nothing():
    from navfusion.render.occlusion import WallOcclusion

    scene = apartment()
    cam = Camera(32, 32)
    poses = _poses()
    with create_renderer(scene, cam, "gl") as on, create_renderer(scene, cam, "gl", occlusion=False) as off:
        a, b = on.render(poses), off.render(poses)
        assert on.triangles_drawn < 0.7 * off.triangles_drawn  # walls hide most of the other rooms
    for name in ("depth_z", "normal", "semantic", "instance", "rgb"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # a camera in the middle of room (0, 0) cannot see the far room's chunks; the occluders are walls
    v, f, _ = scene.merged()
    occ = WallOcclusion(v, f, scene.floor_height, scene.ceiling_height)
    assert occ.enabled
    far_box = np.array([[[12.0, 7.0, 0.0], [13.0, 8.0, 1.0]]])
    near_box = np.array([[[3.0, 3.0, 0.0], [3.5, 3.5, 1.0]]])
    eye = np.array([2.5, 2.5, 1.25])
    assert occ.occluded(eye, far_box)[0] and not occ.occluded(eye, near_box)[0]
    assert not occ.occluded(np.array([2.5, 2.5, 3.5]), far_box)[0]  # above the ceiling: no culling


def test_back_face_culling_only_for_closed_meshes():
    from navfusion.render.gl import closed_orientation
    from navfusion.render.testscene import box_mesh

    v, f = box_mesh((0, 0, 0), (1, 2, 3))
    assert closed_orientation(v, f) == -closed_orientation(v, f[:, [0, 2, 1]]) != 0
    assert closed_orientation(v, f[:-1]) == 0  # a missing triangle: open, never culled
    scene = apartment()
    cam = Camera(32, 32)
    with create_renderer(scene, cam, "gl") as on, create_renderer(scene, cam, "gl", cull_back_faces=False) as off:
        a, b = on.render(_poses()), off.render(_poses())
        assert on._n_closed > 0 and off._n_closed == 0
    # coincident faces (boxes touching walls) may resolve to another triangle of the same plane
    np.testing.assert_allclose(a.depth_z, b.depth_z, atol=1e-4)
    assert (a.instance == b.instance).mean() > 0.995
