"""Registered environments on real generated scenes (the tiny suite) and lazily for the larger suites."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import navfusion  # noqa: F401
from navfusion.env import ENV_IDS, env_id


def test_tiny_world_fixture(tiny_worlds):
    for w in tiny_worlds:
        assert w.views.rgb.shape == (w.num_nodes, 8, 64, 64, 3)
        assert w.targets  # at least one reachable target
        assert w.views.rgb[:, :, 20:44].std() > 5  # real images, not blank


def test_check_env_tiny(tiny_worlds):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = gym.make(env_id("tiny"))
    check_env(env.unwrapped)
    sb3_check(env.unwrapped, warn=False)
    assert env.unwrapped.scene_ids == [w.scene_id for w in tiny_worlds]


@pytest.mark.parametrize("eid", ENV_IDS[1:])
def test_larger_suites_construct_lazily(eid):
    # construction reads only the suite file: worlds are built on the first reset (see the slow test)
    env = gym.make(eid)
    assert env.observation_space["rgb"].shape == (8, 64, 64, 3)
    assert len(env.unwrapped.scene_ids) >= 2 and env.unwrapped._worlds == {}


@pytest.mark.slow
@pytest.mark.parametrize("eid", ENV_IDS[1:])
def test_check_env_larger_suites(nf_cache, eid):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = gym.make(eid, resolution=16)
    check_env(env.unwrapped)
    sb3_check(env.unwrapped, warn=False)


@pytest.mark.parametrize("mode", ["reach", "stop"])
def test_oracle_on_tiny(tiny_worlds, mode):
    env = gym.make(env_id("tiny"), success_mode=mode)
    obs, info = env.reset(seed=0)
    results = []
    while len(results) < 60:
        obs, r, term, trunc, info = env.step(info["oracle_action"])
        if term or trunc:
            results.append((info["success"], info["spl"]))
            obs, info = env.reset()
    res = np.array(results, float)
    assert res[:, 0].all() and np.allclose(res[:, 1], 1.0)


def test_random_on_tiny(tiny_worlds):
    env = gym.make(env_id("tiny"))
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    succ = []
    while len(succ) < 100:
        obs, r, term, trunc, info = env.step(int(rng.integers(9)))
        if term or trunc:
            succ.append(info["success"])
            obs, info = env.reset()
    rate = float(np.mean(succ))
    print(f"random agent success on tiny/train (reach mode): {rate:.2f}")
    assert rate < 0.5


def test_graph_edges_clear_on_generated_scene(tiny_world):
    # sampled segment checks against the raw (uninflated) occupancy: every edge keeps the agent's
    # disk off occupied cells
    g = tiny_world.graph
    occ = g.occupancy
    src, k = np.nonzero(g.neighbors >= 0)
    p0, p1 = g.positions[src, :2], g.positions[g.neighbors[src, k], :2]
    t = np.linspace(0, 1, 41)
    pts = p0[:, None] + (p1 - p0)[:, None] * t[:, None]
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    r = occ.agent_radius - occ.resolution  # one cell of raster slack
    for a in ang:
        off = r * np.array([np.cos(a), np.sin(a)])
        assert not occ.lookup(occ.occupied, pts + off).any()
