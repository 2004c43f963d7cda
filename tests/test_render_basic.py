"""Renderer contract: exact depths in a box room, normals facing the camera, dtypes and shapes,
determinism, lazy EGL, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from navfusion.errors import NavFusionError
from navfusion.render import BUFFERS, Camera, Poses, create_renderer, egl_available
from navfusion.render.testscene import box_room

BACKENDS = (["gl"] if egl_available() else []) + ["raycast"]


@pytest.fixture(scope="module")
def room():
    return box_room(size=(4.0, 3.0), height=2.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_box_room_depth_and_normals(room, backend):
    cam = Camera(32, 32)
    # centre of the room at eye height, looking east (+x) at the wall x = 4, then north at y = 3
    poses = Poses([[2.0, 1.5, 1.25], [2.0, 1.5, 1.25]], [0.0, math.pi / 2])
    with create_renderer(room, cam, backend) as r:
        f = r.render(poses)
    assert (f.depth_z > 0).all() and (f.instance >= 0).all()  # a closed room: every ray hits
    for view, (wall_id, dist) in enumerate([(3, 2.0), (5, 1.5)]):
        wall = f.instance[view] == wall_id
        assert wall.mean() > 0.3
        np.testing.assert_allclose(f.depth_z[view][wall], dist, atol=1e-3)
        # facing the wall squarely: camera-frame normal is +z (towards the camera)
        np.testing.assert_allclose(f.normal[view][wall], np.broadcast_to([0, 0, 1], (wall.sum(), 3)), atol=1e-3)
        assert (f.semantic[view][wall] == 1).all()  # wall category id
        # Euclidean depth is z depth stretched along each pixel's ray
        j = (np.arange(32) + 0.5 - 16) / cam.fx
        stretch = np.sqrt(1 + j[None, :] ** 2 + j[:, None] ** 2)
        np.testing.assert_allclose(f.depth_euclidean[view][wall], (dist * stretch)[wall], rtol=1e-4)
    floor = f.instance[0] == 0
    assert floor[-1].all() and floor.sum() > 50
    np.testing.assert_allclose(f.normal[0][floor], np.broadcast_to([0, 1, 0], (floor.sum(), 3)), atol=1e-3)
    # floor z depth: the plane z=0, 1.25 m below the eye -> depth_z = 1.25 / tan(angle below horizon)
    i = 31
    below = (i + 0.5 - 16) / cam.fy
    np.testing.assert_allclose(f.depth_z[0, i, 16], 1.25 / below, rtol=1e-4)
    # all normals are unit vectors pointing back at the camera (negative dot with the view ray)
    n = f.normal.reshape(-1, 3)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_dtypes_shapes_and_determinism(room, backend):
    cam = Camera(24, 16)
    poses = Poses([[1.0, 1.0, 1.25], [3.0, 2.0, 0.8], [2.0, 1.5, 2.0]], [0.2, 2.5, -1.0], [0.0, 0.3, -0.6])
    with create_renderer(room, cam, backend) as r:
        assert r.backend == backend
        a = r.render(poses)
        b = r.render(poses)
    with create_renderer(room, cam, backend) as r2:
        c = r2.render(poses)
    expect = {"rgb": ((3, 16, 24, 3), np.uint8), "depth_z": ((3, 16, 24), np.float32),
              "depth_euclidean": ((3, 16, 24), np.float32), "normal": ((3, 16, 24, 3), np.float32),
              "semantic": ((3, 16, 24), np.uint8), "instance": ((3, 16, 24), np.int32)}
    for name, (shape, dtype) in expect.items():
        arr = getattr(a, name)
        assert arr.shape == shape and arr.dtype == dtype, name
        np.testing.assert_array_equal(arr, getattr(b, name))
        np.testing.assert_array_equal(arr, getattr(c, name))
    # rays through the camera frame: normals face the camera
    dirs = np.stack(np.meshgrid((np.arange(24) + 0.5 - 12) / cam.fx, -(np.arange(16) + 0.5 - 8) / cam.fy), -1)
    dirs = np.concatenate([dirs, -np.ones((16, 24, 1))], -1)
    assert ((a.normal * dirs[None]).sum(-1) < 0).all()
    assert len(a) == 3 and a[1].rgb.shape == (16, 24, 3)
    assert a.rgb.std() > 5  # shaded and textured, not flat


@pytest.mark.parametrize("backend", BACKENDS)
def test_buffer_subset(room, backend):
    with create_renderer(room, Camera(16, 16), backend) as r:
        f = r.render(Poses([[2.0, 1.5, 1.25]], [0.0]), buffers=("depth_z", "semantic"))
    assert f.depth_z.shape == (1, 16, 16) and f.semantic.shape == (1, 16, 16)
    assert f.rgb.shape == (1, 0, 0, 3) and f.rgb.dtype == np.uint8 and f.instance.shape == (1, 0, 0)
    with create_renderer(room, Camera(16, 16), backend) as r, \
            pytest.raises(NavFusionError, match="unknown render buffer 'dept'.*depth"):
        r.render(Poses([[2.0, 1.5, 1.25]], [0.0]), buffers=("dept",))


def test_auto_backend_says_which(room, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="navfusion.render.base"):
        r = create_renderer(room, Camera(8, 8))
    assert r.backend == ("gl" if egl_available() else "raycast") and r.auto_selected
    r.close()


@pytest.mark.skipif(not egl_available(), reason="no EGL")
def test_gl_context_is_lazy(room):
    r = create_renderer(room, Camera(8, 8), "gl")
    assert r._ctx is None  # nothing GL in this process until the first render (fork safety)
    r.render(Poses([[2.0, 1.5, 1.25]], [0.0]))
    assert r._ctx is not None
    r.close()
    r.close()


def test_errors_are_one_line(room):
    with pytest.raises(NavFusionError, match=r"unknown render backend 'opengl'.*Did you mean 'gl'") as e:
        create_renderer(room, Camera(8, 8), "opengl")
    assert "\n" not in str(e.value)
    for bad in (0, -3, 100_000):
        with pytest.raises(NavFusionError, match="width") as e:
            create_renderer(room, Camera(bad, 8), "raycast")
        assert "\n" not in str(e.value)


def test_cli_bench_render_errors(capsys):
    from navfusion.cli import main

    assert main(["bench", "render", "--backend", "vulkan"]) == 1
    err = capsys.readouterr().err
    assert "unknown render backend 'vulkan'" in err and err.count("\n") == 1
    assert main(["bench", "render", "--resolution", "0"]) == 1
    assert "--resolution=0" in capsys.readouterr().err


def test_cli_bench_render_json(nf_cache, capsys):
    import json

    from navfusion.cli import main

    rc = main(["bench", "render", "--resolution", "16", "--backend", "raycast", "--scenes", "1",
               "--processes", "1", "--seconds", "0.2", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["resolution"] == 16 and res["buffers"] == list(BUFFERS)
    assert res["triangles"] >= 5000  # quickstart scenes
    assert res["fps"]["raycast"] > 0 and res["fps_single_process"]["raycast"] > 0


@pytest.mark.slow
def test_bench_whole_machine_processes(nf_cache):
    from navfusion.cli.bench.render import Job, measure
    from navfusion.render.testscene import apartment

    m = measure(Job(BACKENDS[0], 32, 8, 0.5), [apartment()], processes=2)
    assert m["processes"] == 2 and m["views"] > 0 and m["fps"] > 0
