"""ViewStore: rendering once, cache reuse, optional buffers, stale and corrupt stores."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from navfusion.nav.graph import build_graph
from navfusion.nav.testing import FlatRenderer, toy_scene
from navfusion.nav.views import load_views, node_poses, views_dir
from navfusion.render.camera import Camera


class Counting:
    def __init__(self):
        self.made = 0

    def __call__(self, scene, camera, backend):
        self.made += 1
        return FlatRenderer(scene, camera, backend)


@pytest.fixture
def setup(nf_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("NAVFUSION_CACHE", str(tmp_path))  # a private store for each test
    scene = toy_scene()
    return scene, build_graph(scene), Camera().with_resolution(16)


def test_views_world_aligned(setup):
    scene, g, cam = setup
    vs = load_views(scene, g, cam, renderer_factory=Counting(), progress=False)
    assert vs.rgb.shape == (g.num_nodes, 8, 16, 16, 3) and vs.rgb.dtype == np.uint8
    assert vs.depth is None and vs.semantic is None and vs.buffers == ("rgb",)
    assert not (vs.path / "depth.npy").exists()  # optional buffers only when asked
    poses = node_poses(g, cam)
    np.testing.assert_allclose(poses.yaws[:8], np.arange(8) * math.pi / 4)
    np.testing.assert_allclose(poses.positions[8 * 5, 2], g.positions[5, 2] + cam.eye_height)
    # view k of node i is the render of (node i, yaw k*45°)
    direct = FlatRenderer(scene, cam).render(poses).rgb.reshape(g.num_nodes, 8, 16, 16, 3)
    np.testing.assert_array_equal(vs.rgb, direct)


def test_cached_not_rerendered_and_pickles(setup):
    scene, g, cam = setup
    f = Counting()
    load_views(scene, g, cam, renderer_factory=f, progress=False)
    vs = load_views(scene, g, cam, renderer_factory=f, progress=False)
    assert f.made == 1
    clone = pickle.loads(pickle.dumps(vs))
    np.testing.assert_array_equal(clone.rgb, vs.rgb)
    assert len(pickle.dumps(vs)) < 10_000  # the path travels, not the pixels


def test_extra_buffers_added(setup):
    scene, g, cam = setup
    f = Counting()
    load_views(scene, g, cam, renderer_factory=f, progress=False)
    vs = load_views(scene, g, cam, buffers=("depth", "semantic"), renderer_factory=f, progress=False)
    assert f.made == 2 and vs.depth.shape == (g.num_nodes, 8, 16, 16) and vs.depth.dtype == np.float32
    assert vs.semantic.dtype == np.uint8 and vs.normal is None


def test_corrupt_file_rebuilt(setup, caplog):
    scene, g, cam = setup
    f = Counting()
    good = np.array(load_views(scene, g, cam, renderer_factory=f, progress=False).rgb)
    path = views_dir(scene, cam) / "rgb.npy"
    with open(path, "r+b") as fh:  # flip bytes in the pixel data, keeping the file loadable
        fh.seek(path.stat().st_size - 100)
        fh.write(b"\x01" * 50)
    vs = load_views(scene, g, cam, renderer_factory=f, progress=False)
    assert f.made == 2 and "corrupt" in caplog.text
    np.testing.assert_array_equal(vs.rgb, good)
    path.write_bytes(b"truncated")  # unloadable file
    vs = load_views(scene, g, cam, renderer_factory=f, progress=False)
    assert f.made == 3
    np.testing.assert_array_equal(vs.rgb, good)


def test_stale_store_rebuilt(setup):
    scene, g, cam = setup
    f = Counting()
    load_views(scene, g, cam, renderer_factory=f, progress=False)
    changed = toy_scene()
    changed.instances[-1].vertices = changed.instances[-1].vertices + np.float32([0, 0.2, 0])
    load_views(changed, build_graph(changed), cam, renderer_factory=f, progress=False)
    assert f.made == 2
    wider = Camera(width=16, height=16, hfov_deg=100)
    load_views(scene, g, wider, renderer_factory=f, progress=False)
    assert f.made == 3


def test_single_colour_views_are_refused_and_nothing_is_cached(setup):
    from navfusion.errors import NavFusionError
    from navfusion.render.camera import Frames

    class Black(FlatRenderer):
        backend = "black"

        def render(self, poses, buffers=()):
            f = super().render(poses, buffers)
            return Frames(np.zeros_like(f.rgb), f.depth_z, f.depth_euclidean, f.normal, f.semantic, f.instance)

    scene, g, cam = setup
    with pytest.raises(NavFusionError, match="one single colour"):
        load_views(scene, g, cam, renderer_factory=lambda s, c, b: Black(s, c, b), progress=False)
    assert not list(views_dir(scene, cam).glob("*.npy"))
    assert load_views(scene, g, cam, renderer_factory=Counting(), progress=False).rgb.max() > 0
