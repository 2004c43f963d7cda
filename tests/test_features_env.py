"""The environment's feature mode: spaces, checkers, store-backed observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import navfusion  # noqa: F401  (registers the ids)
from navfusion.common import scene_slug
from navfusion.env import ENV_IDS
from navfusion.errors import NavFusionError
from navfusion.nav.testing import flat_renderer_factory, toy_scene
from navfusion.nav.world import load_world
from navfusion.vision.encoders import encode_rgb
from navfusion.vision.features import FeatureStore
from navfusion.vision.registry import create_encoder, register_encoder, unregister_encoder

ENC = ["test_env_a", "test_env_b"]


@pytest.fixture(scope="module")
def toy_worlds(nf_cache):
    for i, name in enumerate(ENC):
        register_encoder(name, lambda seed=i: create_encoder("random", seed=seed, input_size=32, out_size=4,
                                                             width=8, max_width=16), overwrite=True)
    register_encoder("test_env_big", lambda: create_encoder("random", input_size=32, out_size=8, width=8),
                     overwrite=True)
    yield [load_world(toy_scene("test/toy/0"), resolution=16, renderer_factory=flat_renderer_factory)]
    for name in [*ENC, "test_env_big"]:
        unregister_encoder(name)


def _make(worlds, **kw):
    return gym.make(ENV_IDS[0], worlds=worlds, resolution=16, obs_mode="features", zoo="testzoo",
                    renderer_factory=flat_renderer_factory, **kw)


def test_feature_mode_passes_checkers_and_matches_encoders(toy_worlds):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = _make(toy_worlds, encoders=ENC)
    space = env.observation_space["features"]
    assert space.shape == (2, 8, 8, 4, 4) and space.dtype == np.float32
    check_env(env.unwrapped)
    sb3_check(env.unwrapped, warn=False)
    obs, info = env.reset(seed=0)
    assert obs["rgb"].shape == (8, 16, 16, 3) and env.observation_space.contains(obs)
    # the features are the encoder applied to the node's 8 views rendered at the encoder's input size
    big = load_world(toy_scene("test/toy/0"), resolution=32, renderer_factory=flat_renderer_factory)
    want = encode_rgb(create_encoder("test_env_b"), big.views.rgb[info["node"]])
    np.testing.assert_allclose(obs["features"][1], want, atol=2e-2, rtol=1e-2)
    obs2, *_ = env.step(int(info["oracle_action"]))
    assert obs2["features"] is not obs["features"]
    # they came from (and now live in) the store
    store = FeatureStore("testzoo")
    assert store.load(scene_slug("test/toy/0"), ENC).shape[1:] == (2, 8, 8, 4, 4)


def test_feature_mode_errors(toy_worlds):
    with pytest.raises(NavFusionError, match="different output shapes.*test_env_big"):
        _make(toy_worlds, encoders=[ENC[0], "test_env_big"])
    with pytest.raises(NavFusionError, match="unknown encoder 'test_env_c'"):
        _make(toy_worlds, encoders=["test_env_c"])
    with pytest.raises(NavFusionError, match="only to obs_mode='features'"):
        gym.make(ENV_IDS[0], worlds=toy_worlds, resolution=16, zoo="testzoo")


def test_one_scene_slug_for_every_cache():
    from navfusion.common import SceneId

    assert scene_slug("tiny/train/0") == SceneId.parse("tiny/train/0").slug == "tiny__train__0"
    assert scene_slug("my scan/v2.glb") == "my_scan__v2.glb"  # imported scenes: file-name safe
    assert scene_slug("") == "scene"
