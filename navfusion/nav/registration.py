"""Registration of the navfusion Gymnasium ids (kept light: ``import navfusion`` runs it)."""

from __future__ import annotations

#: Scene suites shipped with navfusion; each gets a registered id.
SUITES: tuple[str, ...] = ("tiny", "quickstart", "paper")
#: The paper's horizon: an episode is cut after this many steps.
MAX_EPISODE_STEPS = 39
#: Keyword arguments every registered id gets (``gymnasium.make(id, **overrides)`` changes them).
DEFAULT_KWARGS = {"split": "train", "resolution": 64, "success_mode": "reach", "obs_mode": "rgb"}


def env_id(suite: str) -> str:
    """The registered id of a suite's environment: ``NavFusion/OctoNav-<suite>-v0``."""
    return f"NavFusion/OctoNav-{suite}-v0"


ENV_IDS: tuple[str, ...] = tuple(env_id(s) for s in SUITES)


def register_envs() -> None:
    """Register ``NavFusion/OctoNav-<suite>-v0`` for each shipped suite (idempotent)."""
    try:
        from gymnasium.envs.registration import register, registry
    except ImportError:  # gymnasium is a dependency; tolerate its absence for non-env tools
        return
    for suite in SUITES:
        eid = env_id(suite)
        if eid in registry:
            continue
        register(id=eid, entry_point="navfusion.env:OctoNavEnv", max_episode_steps=MAX_EPISODE_STEPS,
                 kwargs={"suite": suite, **DEFAULT_KWARGS})
