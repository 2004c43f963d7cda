"""Vectorised environments for PPO and evaluation: N copies of an OctoNav env in worker processes.

Workers are *spawned*, never forked: a forked child of a process that created an EGL context
hangs, and spawned workers import navfusion fresh and load their worlds from the on-disk caches
(views are rendered once per scene, by whoever needs them first). Observations travel through
shared memory.

- :func:`make_vec_env`: Gymnasium ``AsyncVectorEnv`` (``vectorization="async"``) or
  ``SyncVectorEnv`` (``"sync"``, in-process; the reference the async one must equal step for step).

Seeding: ``reset(seed=s)`` on the vector env seeds copy ``i`` with ``s + i`` (Gymnasium's rule),
so a given seed gives the same trajectories whatever the vectorisation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from navfusion.config import check

VECTORIZATIONS = ("async", "sync")


def _make_env(env_id: str, kwargs: dict[str, Any], wrapper: Callable[[Any], Any] | None = None) -> Any:
    import gymnasium as gym

    import navfusion  # noqa: F401  (registers the ids in a fresh worker)

    env = gym.make(env_id, **kwargs)
    return wrapper(env) if wrapper is not None else env


def env_fns(env_id: str, num_envs: int, wrapper: Callable[[Any], Any] | None = None,
            **env_kwargs: Any) -> list[Callable[[], Any]]:
    """``num_envs`` picklable factories of ``gymnasium.make(env_id, **env_kwargs)`` (optionally wrapped)."""
    check(isinstance(num_envs, int) and num_envs >= 1, "num_envs", num_envs, "an int >= 1")
    return [functools.partial(_make_env, env_id, dict(env_kwargs), wrapper) for _ in range(num_envs)]


def make_vec_env(env_id: str, num_envs: int, vectorization: str = "async", context: str = "spawn",
                 wrapper: Callable[[Any], Any] | None = None, **env_kwargs: Any) -> Any:
    """A Gymnasium vector env of ``num_envs`` copies of ``env_id``.

    Args:
        vectorization: ``"async"`` (one spawned worker process per copy, shared-memory observations)
            or ``"sync"`` (in-process).
        context: multiprocessing start method of async workers (``spawn``; ``forkserver`` also works).
        wrapper: applied to each env in its worker (a module-level callable, picklable).
        env_kwargs: ``gymnasium.make`` overrides (``split=``, ``resolution=``, ``obs_mode=``, ...).
    """
    from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

    check(vectorization in VECTORIZATIONS, "vectorization", vectorization, f"one of {VECTORIZATIONS}")
    fns = env_fns(env_id, num_envs, wrapper, **env_kwargs)
    if vectorization == "sync":
        return SyncVectorEnv(fns)
    return AsyncVectorEnv(fns, shared_memory=True, context=context)

