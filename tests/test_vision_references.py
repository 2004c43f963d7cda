"""Privileged ground-truth references ``gt/<task>`` and ``rgb_thumbnail``: shape, determinism, that
they carry the ground truth, and that they work wherever an encoder name does."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import navfusion  # noqa: F401  (registers the ids)
from navfusion.build.runners import build_features
from navfusion.common import CATEGORIES, TARGETS
from navfusion.env import ENV_IDS
from navfusion.errors import NavFusionError
from navfusion.nav.views import default_renderer_factory, render_node_views
from navfusion.vision.features import FeatureStore, encoder_fingerprint, zoo_encoders
from navfusion.vision.references import DEPTH_MAX, GT_TASKS, GroundTruthEncoder, cell_stats, encode_world
from navfusion.vision.registry import _BUILTIN, create_encoder, list_encoders
from navfusion.vision.zoo import DEFAULT_ZOO

NODES = np.array([0, 3, 7, 11])


def test_cell_stats_layout():
    m = np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64)
    s = cell_stats(m)
    assert s.shape == (1, 8, 8, 8)
    cell = m[0, 8:16, 16:24]  # cell (1, 2)
    want = [cell[:4, :4].mean(), cell[:4, 4:].mean(), cell[4:, :4].mean(), cell[4:, 4:].mean(),
            cell.min(), cell.max(), cell.std(), cell.mean()]
    np.testing.assert_allclose(s[0, :, 1, 2], want, rtol=1e-6)


def test_every_reference_has_the_zoo_shape_and_is_deterministic(tiny_world):
    encs = [GroundTruthEncoder(t) for t in GT_TASKS]
    a = encode_world(tiny_world, encs, nodes=NODES)
    b = encode_world(tiny_world, encs, nodes=NODES)
    for t, x, y in zip(GT_TASKS, a, b):
        assert x.shape == (len(NODES), 8, 8, 8, 8) and x.dtype == np.float32, t
        assert np.isfinite(x).all(), t
        np.testing.assert_array_equal(x, y, err_msg=t)
        assert x.std() > 0, f"{t}: constant features"
    # different tasks give different features
    assert not np.allclose(a[0], a[2])


def test_gt_depth_is_the_pooled_rendered_depth_and_sees_walls(tiny_world):
    enc = create_encoder("gt/depth_zbuffer")
    feats = encode_world(tiny_world, [enc])[0]  # (N, 8, 8, 8, 8)
    r = default_renderer_factory(tiny_world.scene, tiny_world.camera, tiny_world.views.backend)
    try:
        for node in NODES[:2]:
            depth = render_node_views(r, tiny_world.graph, tiny_world.camera, int(node), ("depth",))["depth"]
            d = np.where(depth > 0, np.minimum(depth, DEPTH_MAX), DEPTH_MAX)
            pooled = d.reshape(8, 8, 8, 8, 8).mean((2, 4))  # (view, row, col)
            # (renders of other batch sizes differ by float rounding)
            np.testing.assert_allclose(feats[node, :, 7], pooled, atol=1e-3)
            np.testing.assert_allclose(feats[node, :, 4], d.reshape(8, 8, 8, 8, 8).min((2, 4)), atol=1e-3)
    finally:
        r.close()
    # a view along a blocked move faces a wall or furniture: its nearest surface in the image's
    # centre is closer than along open moves
    blocked = np.asarray(tiny_world.graph.neighbors) < 0
    near = feats[:, :, 4, 2:6, 2:6].min((2, 3))  # (N, 8) central min depth
    assert blocked.any() and (~blocked).any()
    assert near[blocked].mean() < 0.6 * near[~blocked].mean()


def test_gt_semantic_is_shares_of_the_categories(tiny_world):
    enc = create_encoder("gt/segment_semantic")
    feats = encode_world(tiny_world, [enc], nodes=NODES)[0]
    np.testing.assert_allclose(feats.sum(2), 1.0, atol=1e-5)  # the 8 groups partition each cell
    r = default_renderer_factory(tiny_world.scene, tiny_world.camera, tiny_world.views.backend)
    try:
        sem = render_node_views(r, tiny_world.graph, tiny_world.camera, int(NODES[0]), ("semantic",))["semantic"]
    finally:
        r.close()
    for k, t in enumerate(TARGETS):
        share = (sem == CATEGORIES[t].id).reshape(8, 8, 8, 8, 8).mean((2, 4))
        np.testing.assert_allclose(feats[0, :, k], share, atol=1e-6)
    floor = (sem == CATEGORIES["floor"].id).reshape(8, 8, 8, 8, 8).mean((2, 4))
    np.testing.assert_allclose(feats[0, :, 4], floor, atol=1e-6)
    assert floor[:, -1].mean() > floor[:, 0].mean()  # the floor is at the bottom of a level view


def test_registry_lists_references_but_no_zoo_includes_them():
    names = list_encoders()
    assert {f"gt/{t}" for t in GT_TASKS} <= set(names) and "rgb_thumbnail" in names
    assert {n for n in _BUILTIN if n.startswith("gt/")} == {f"gt/{t}" for t in GT_TASKS}
    assert not any(n.startswith("gt/") for n in zoo_encoders(DEFAULT_ZOO))
    from navfusion.agents.registry import default_zoo_encoders

    assert not any(n.startswith("gt/") for n in default_zoo_encoders())
    with pytest.raises(NavFusionError, match="gt/"):
        create_encoder("gt/depth_zbufer")  # suggestions name the reference
    enc = create_encoder("gt/normal")
    assert enc.output_shape == (8, 8, 8) and enc.input_size == 64
    with pytest.raises(NavFusionError, match="privileged"):
        enc(torch.zeros(1, 3, 64, 64))
    assert encoder_fingerprint(enc) != encoder_fingerprint(create_encoder("gt/depth_zbuffer"))
    thumb = create_encoder("rgb_thumbnail")
    x = torch.zeros(2, 3, 64, 64)
    x[:, 0, :8, :8] = 1.0
    y = thumb(x)
    assert y.shape == (2, 3, 8, 8) and float(y[0, 0, 0, 0]) == 1.0 and float(y[0, 0, 1, 1]) == 0.0


def test_feature_store_and_env_serve_references(tiny_world, nf_cache):
    sid = tiny_world.scene_id
    slug = sid.replace("/", "__")
    store = FeatureStore("gtref")
    # start empty: a reused NAVFUSION_TEST_CACHE holds the files an earlier session built
    shutil.rmtree(store.root, ignore_errors=True)
    out = build_features([sid], "gtref", ["gt/depth_zbuffer", "rgb_thumbnail"], progress=False)
    assert sorted(out[sid][0]) == ["gt/depth_zbuffer", "rgb_thumbnail"]
    m = store.manifest(slug)["encoders"]["gt__depth_zbuffer"]
    assert m["dtype"] == "float16" and m["encoder"] == "gt/depth_zbuffer"
    assert m["encoder_sha"] == create_encoder("gt/depth_zbuffer").weights_sha256
    again = build_features([sid], "gtref", ["gt/depth_zbuffer"], progress=False)
    assert again[sid] == ([], ["gt/depth_zbuffer"])
    stored = store.load(slug, ["gt/depth_zbuffer"])[:, 0]
    fresh = encode_world(tiny_world, [create_encoder("gt/depth_zbuffer")], nodes=NODES)[0]
    np.testing.assert_allclose(stored[NODES].astype(np.float32), fresh, rtol=2e-3, atol=2e-3)
    # the feature observation mode takes the name like any encoder
    env = gym.make(ENV_IDS[0], worlds=[tiny_world], resolution=64, obs_mode="features", zoo="gtref",
                   encoders=["gt/depth_zbuffer"])
    obs, info = env.reset(seed=0)
    assert obs["features"].shape == (1, 8, 8, 8, 8)
    np.testing.assert_array_equal(obs["features"][0], stored[info["node"]].astype(np.float32))
    # a direct build_scene without the world says what it needs
    with pytest.raises(NavFusionError, match="world"):
        FeatureStore("gtref_noworld").build_scene(slug, np.asarray(tiny_world.views.rgb), ["gt/normal"])
