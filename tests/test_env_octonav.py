"""OctoNavEnv on hand-made worlds: API checks, determinism, pickling, oracle/random, bad input, vector envs."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import navfusion  # noqa: F401  (registers the ids)
from navfusion.env import ENV_IDS, InvalidActionError, OctoNavEnv, make
from navfusion.errors import NavFusionError
from navfusion.nav.testing import flat_renderer_factory, toy_scene
from navfusion.nav.world import load_world


@pytest.fixture(scope="module")
def toy_worlds(nf_cache):
    return [load_world(toy_scene("test/toy/0"), resolution=16, renderer_factory=flat_renderer_factory,
                       buffers=("rgb", "depth", "semantic")),
            load_world(toy_scene("test/toy/1", with_bed=False), resolution=16, renderer_factory=flat_renderer_factory,
                       buffers=("rgb", "depth", "semantic"))]


def _make(worlds, **kw):
    return gym.make(ENV_IDS[0], worlds=worlds, resolution=16, **kw)


def test_registered_ids():
    for eid in ENV_IDS:
        spec = gym.spec(eid)
        assert spec.max_episode_steps == 39 and spec.kwargs["success_mode"] == "reach"
        assert {"split", "resolution", "obs_mode"} <= set(spec.kwargs)


def test_gymnasium_and_sb3_checkers(toy_worlds):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    for kw in ({}, {"buffers": ("depth", "semantic"), "success_mode": "stop"}):
        env = _make(toy_worlds, **kw)
        check_env(env.unwrapped, skip_render_check=False)
        sb3_check(env.unwrapped, warn=False)
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        assert obs["rgb"].shape == (8, 16, 16, 3)
        if kw:
            assert obs["depth"].shape == (8, 16, 16) and obs["semantic"].dtype == np.uint8


def _rollout(env, seed, steps=200):
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    trace = [(info["scene_id"], info["node"], int(obs["target"]))]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(int(rng.integers(9)))
        trace.append((info["node"], r, term, trunc, obs["rgb"].sum()))
        if term or trunc:
            obs, info = env.reset()
            trace.append((info["scene_id"], info["node"], int(obs["target"])))
    return trace


def test_same_seed_same_rollout(toy_worlds):
    a = _rollout(_make(toy_worlds), 7)
    b = _rollout(_make(toy_worlds), 7)
    c = _rollout(_make(toy_worlds), 8)
    assert a == b and a != c


def test_pickles_mid_episode(toy_worlds):
    env = _make(toy_worlds)
    env.reset(seed=3)
    env.step(0)
    clone = pickle.loads(pickle.dumps(env))
    for a in (1, 2, 3, 8):
        o1, r1, t1, _, i1 = env.step(a)
        o2, r2, t2, _, i2 = clone.step(a)
        assert r1 == r2 and i1["node"] == i2["node"]
        np.testing.assert_array_equal(o1["rgb"], o2["rgb"])


def _run(env, policy, episodes, seed):
    rng = np.random.default_rng(seed)
    out = []
    obs, info = env.reset(seed=seed)
    while len(out) < episodes:
        a = info["oracle_action"] if policy == "oracle" else int(rng.integers(9))
        obs, r, term, trunc, info = env.step(a)
        if term or trunc:
            out.append((info["success"], info["spl"], info["steps"]))
            obs, info = env.reset()
    return np.array(out, dtype=float)


@pytest.mark.parametrize("mode", ["reach", "stop"])
def test_oracle_always_succeeds_with_spl_one(toy_worlds, mode):
    res = _run(_make(toy_worlds, success_mode=mode), "oracle", 150, 0)
    assert res[:, 0].all() and np.allclose(res[:, 1], 1.0)


def test_random_agent_success_is_low(toy_worlds):
    res = _run(_make(toy_worlds), "random", 150, 0)
    rate = res[:, 0].mean()
    print(f"random agent success (reach mode, toy scenes): {rate:.3f}")
    assert rate < 0.3
    stop = _run(_make(toy_worlds, success_mode="stop"), "random", 150, 0)[:, 0].mean()
    print(f"random agent success (stop mode, toy scenes): {stop:.3f}")
    assert stop <= rate


def test_step_semantics(toy_worlds):
    env = OctoNavEnv(worlds=toy_worlds)
    obs, info = env.reset(seed=1, options={"scene_id": "test/toy/0", "target": "bed"})
    assert info["target"] == "bed" and int(obs["target"]) == 2 and 6 <= info["distance"] <= 32
    world = env.current_world
    node = info["node"]
    blocked = [k for k in range(8) if world.graph.neighbors[node, k] < 0]
    if blocked:
        _, r, term, _, info2 = env.step(blocked[0])
        assert info2["collided"] and info2["node"] == node and r == pytest.approx(-0.01)
    # view k of the observation is the stored view k of the node
    obs, *_ = env.step(8)
    np.testing.assert_array_equal(obs["rgb"], world.views.rgb[env.node])
    # reward: progress - step cost (+ bonus on success)
    env.reset(seed=2)
    _, r, *_ = env.step(env.oracle_action())
    assert r == pytest.approx(1.0 - 0.01)


def test_bad_action_raises(toy_worlds):
    env = _make(toy_worlds)
    env.reset(seed=0)
    for bad in (9, -1, 2.5, "a", np.array([1, 2])):
        with pytest.raises(InvalidActionError, match="0..8"):
            env.step(bad)
    env.step(np.int64(3))
    env.step(np.array(4))


def test_unknown_id_suggests():
    with pytest.raises(NavFusionError, match="Did you mean 'NavFusion/OctoNav-tiny-v0'"):
        make("NavFusion/OctoNav-tinyy-v0")
    with pytest.raises(gym.error.Error, match="Did you mean: `OctoNav-tiny`"):  # gymnasium's own hint
        gym.make("NavFusion/OctoNav-tinyy-v0")


def test_bad_kwargs_name_the_field(toy_worlds):
    with pytest.raises(NavFusionError, match="success_mode"):
        OctoNavEnv(worlds=toy_worlds, success_mode="reached")
    with pytest.raises(NavFusionError, match="unknown argument 'resolutoin'.*Did you mean 'resolution'"):
        gym.make(ENV_IDS[0], worlds=toy_worlds, resolutoin=16)
    with pytest.raises(NavFusionError, match="obs_mode.*Did you mean"):
        OctoNavEnv(worlds=toy_worlds, obs_mode="rgbb")


def test_render_rgb_array(toy_worlds):
    env = _make(toy_worlds, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(0)
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[0] == 256 and img.shape[1] > 256


def test_reset_with_fixed_episode(toy_worlds):
    from navfusion.nav.episodes import evaluation_episodes

    eps = evaluation_episodes(toy_worlds[0], count=5, seed=0)
    env = _make(toy_worlds)
    for ep in eps:
        obs, info = env.reset(options={"episode": ep})
        assert (info["node"], info["target"], info["distance"]) == (ep.start, ep.target, ep.distance)


def test_live_views_match_cache(toy_worlds):
    env = OctoNavEnv(worlds=toy_worlds, views="live", renderer_factory=flat_renderer_factory)
    obs, info = env.reset(seed=4)
    np.testing.assert_array_equal(obs["rgb"], env.current_world.views.rgb[info["node"]])


def test_vector_envs(toy_worlds):
    from stable_baselines3.common.vec_env import SubprocVecEnv

    def fn():
        return _make(toy_worlds)

    sync = gym.vector.SyncVectorEnv([fn, fn])
    o_sync, _ = sync.reset(seed=5)
    asyn = gym.vector.AsyncVectorEnv([fn, fn], context="spawn")
    o_async, _ = asyn.reset(seed=5)
    np.testing.assert_array_equal(o_sync["rgb"], o_async["rgb"])
    a = np.array([0, 8])
    np.testing.assert_array_equal(sync.step(a)[0]["rgb"], asyn.step(a)[0]["rgb"])
    asyn.close()
    sync.close()
    # fork keeps this test fast (spawn re-imports torch in every worker); spawn is covered above
    sb3 = SubprocVecEnv([fn, fn], start_method="fork")
    obs = sb3.reset()
    assert obs["rgb"].shape == (2, 8, 16, 16, 3)
    sb3.step(np.array([1, 2]))
    sb3.close()


def test_step_after_termination_refused(toy_worlds):
    env = OctoNavEnv(worlds=toy_worlds)
    env.reset(seed=3)
    *_, terminated, _, _ = env.step(8)  # stop ends the episode in both success modes
    assert terminated
    with pytest.raises(NavFusionError, match="terminated; call reset"):
        env.step(0)
    env.reset(seed=3)
    env.step(env.oracle_action())  # a reset makes it steppable again


def test_reset_options_validated(toy_worlds):
    env = OctoNavEnv(worlds=toy_worlds)
    with pytest.raises(NavFusionError, match=r"unknown key\(s\) 'scene'.*allowed: episode, scene_id, target"):
        env.reset(seed=0, options={"scene": "test/toy/0"})
    with pytest.raises(NavFusionError, match="must be a dict, got str"):
        env.reset(seed=0, options="test/toy/0")


@pytest.mark.parametrize("kw, match", [
    ({"reward": {"bonus": 1}}, r"reward: unknown field 'bonus'.*success_bonus"),
    ({"reward": {"success_bonus": "big"}}, r"reward\.success_bonus.*finite number"),
    ({"reward": 3}, r"reward: expected a mapping, got int"),
    ({"success_distance": "3"}, r"success_distance.*an integer"),
    ({"min_distance": 6.5}, r"min_distance.*an integer"),
    ({"buffers": "depth"}, r"buffers.*\['depth'\]"),
])
def test_bad_api_arguments_name_the_field(toy_worlds, kw, match):
    with pytest.raises(NavFusionError, match=match):
        OctoNavEnv(worlds=toy_worlds, **kw)
