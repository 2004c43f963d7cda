"""Environment step-speed benchmark (``navfusion bench env``, ``benchmarks/bench_env.py``).

Measures, side by side in one process and at one resolution:

* ``steps_per_s_cached``: ``gymnasium.make`` with its default wrappers (env checker, order
  enforcing, 39-step TimeLimit), views from the ViewStore, uniformly random actions, resets included;
* ``steps_per_s_uncached``: the same env rendering its 8 views every step (``views="live"``);
* ``copy_only_per_s``: just copying one node's 8 views, the floor any cached step pays;
* ``steps_per_s_trivial_env``: a do-nothing env that returns such a copy, made through
  ``gymnasium.make`` with the same default wrappers (the reference the target is stated against).
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np

from navfusion.common import HORIZON


def _make(env_id: str | None, resolution: int, toy: bool, **kw):
    import gymnasium as gym

    import navfusion  # noqa: F401  (registration)
    from navfusion.env import ENV_IDS, make

    if toy:
        from navfusion.nav.testing import toy_scene

        return gym.make(ENV_IDS[0], scenes=[toy_scene()], resolution=resolution, **kw)
    return make(env_id or ENV_IDS[0], resolution=resolution, **kw)


def _time_steps(env, steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 9, size=steps)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


class _CopyEnv:
    """Built lazily (gymnasium is imported inside): an env whose step only copies 8 views."""

    @staticmethod
    def make(rgb: np.ndarray):
        import gymnasium as gym
        from gymnasium import spaces
        from gymnasium.envs.registration import EnvSpec

        class CopyEnv(gym.Env):
            def __init__(self):
                self.observation_space = spaces.Dict({"rgb": spaces.Box(0, 255, rgb.shape[1:], np.uint8),
                                                      "target": spaces.Discrete(4)})
                self.action_space = spaces.Discrete(9)
                self.i = 0

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                return {"rgb": rgb[0].copy(), "target": np.int64(0)}, {}

            def step(self, action):
                self.i = (self.i + 1) % len(rgb)
                return {"rgb": rgb[self.i].copy(), "target": np.int64(0)}, 0.0, False, False, {}

        return gym.make(EnvSpec("NavFusionBench/Copy-v0", entry_point=CopyEnv, max_episode_steps=HORIZON))


def bench_env(env_id: str | None = None, resolution: int = 128, steps: int = 20000, live_steps: int = 40,
              seed: int = 0, toy: bool = False, backend: str = "auto") -> dict[str, Any]:
    """Run the benchmark; returns a JSON-able dict of results."""
    from navfusion.config import check

    for name, v in (("steps", steps), ("live_steps", live_steps), ("resolution", resolution)):
        check(isinstance(v, int) and v >= 1, name, v, "a positive integer")
    t0 = time.perf_counter()
    env = _make(env_id, resolution, toy, backend=backend)
    env.reset(seed=seed)  # builds / loads the world (graph, views)
    world = env.unwrapped.current_world
    prepare_s = time.perf_counter() - t0
    rgb = world.views.rgb
    n = rgb.shape[0]
    trivial_env = _CopyEnv.make(rgb)
    _time_steps(env, min(2000, steps), seed)  # warm the page cache of the memory-mapped views

    def copy_only(k: int, s: int) -> float:
        idx = np.random.default_rng(s).integers(0, n, size=k)
        t = time.perf_counter()
        for i in idx:
            rgb[i].copy()
        return k / (time.perf_counter() - t)

    # interleave short blocks of the three measurements so load changes on a shared machine hit all alike
    block = max(1, min(steps, 2000))
    rounds = max(1, steps // block)
    secs = {"cached": 0.0, "trivial": 0.0, "copy": 0.0}
    for r in range(rounds):
        secs["cached"] += block / _time_steps(env, block, seed + r)
        secs["trivial"] += block / _time_steps(trivial_env, block, seed + r)
        secs["copy"] += block / copy_only(block, seed + r)
    total = block * rounds
    cached, trivial, copy_only_rate = total / secs["cached"], total / secs["trivial"], total / secs["copy"]

    live_env = _make(env_id, resolution, toy, views="live", backend=backend)
    live_env.reset(seed=seed)
    live_env.step(0)  # the first step creates the renderer (GL context / BVH): not part of the rate
    uncached = _time_steps(live_env, live_steps, seed)
    backend_used = getattr(next(iter(live_env.unwrapped._renderers.values()), None), "backend", "?")
    live_env.close()
    env.close()
    return {
        "env_id": env_id or ("toy" if toy else "NavFusion/OctoNav-tiny-v0"),
        "resolution": resolution,
        "scene_id": world.scene_id,
        "nodes": int(n),
        "steps": total,
        "steps_per_s_cached": round(cached, 1),
        "steps_per_s_uncached": round(uncached, 2),
        "copy_only_per_s": round(copy_only_rate, 1),
        "steps_per_s_trivial_env": round(trivial, 1),
        "cached_over_copy_only": round(cached / copy_only_rate, 3),
        "cached_over_trivial_env": round(cached / trivial, 3),
        "cached_over_uncached": round(cached / uncached, 1),
        "uncached_backend": backend_used,
        "world_prepare_s": round(prepare_s, 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
