"""Registration of the navfusion Gymnasium ids (kept light: ``import navfusion`` runs it)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from gymnasium.envs.registration import register, registry

from navfusion.common import HORIZON

#: Scene suites shipped with navfusion; each gets a registered id.
SUITES: tuple[str, ...] = ("tiny", "quickstart", "paper")
#: Keyword arguments every registered id gets (``gymnasium.make(id, **overrides)`` changes them).
DEFAULT_KWARGS = {"split": "train", "resolution": 64, "success_mode": "reach", "obs_mode": "rgb"}


def env_id(suite: str) -> str:
    """The registered id of a suite's environment: ``NavFusion/OctoNav-<suite>-v0``."""
    return f"NavFusion/OctoNav-{suite}-v0"


ENV_IDS: tuple[str, ...] = tuple(env_id(s) for s in SUITES)
#: The suite-agnostic id: ``gymnasium.make(GENERIC_ID, suite="path/to/suite.yaml")`` (default suite: tiny).
GENERIC_ID = "NavFusion/OctoNav-v0"
#: ``--help`` text of every command's ``--env``.
ENV_HELP = ("a registered id (NavFusion/OctoNav-tiny-v0), a suite name (tiny, quickstart, paper) or a path to "
            "a suite YAML (procedural or folder of meshes)")
_ENV_ID = re.compile(r"^NavFusion/OctoNav-(?P<suite>[A-Za-z0-9_.-]+?)(-(?P<mode>features))?-v\d+$")


@dataclass(frozen=True)
class EnvSpec:
    """What an ``--env`` value names.

    Attributes:
        env_id: a registered Gymnasium id to make.
        suite: the suite's name (the first part of its scene ids; resolvable in this process and in
            processes it starts, see ``navfusion.scenes.suites.load_suite``).
        kwargs: keyword arguments for ``gymnasium.make`` (``suite=<path>`` for suites given by path).
    """

    env_id: str
    suite: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def resolve_env(text: str) -> EnvSpec:
    """Resolve an ``--env`` value: a registered id (``NavFusion/OctoNav-tiny-v0``), a suite name
    (``tiny``, or one loaded from a path earlier), or a path to a suite YAML (procedural or folder of
    meshes). Every command taking ``--env`` goes through here; unknown values raise one line with
    suggestions."""
    from navfusion.errors import NavFusionError

    text = str(text)
    if text == GENERIC_ID:
        return EnvSpec(text, "tiny")
    from navfusion.scenes.suites import load_suite

    m = _ENV_ID.match(text)
    if m:
        register_envs()
        if text not in registry:
            try:
                load_suite(m["suite"])
            except NavFusionError:
                from navfusion.common import suggest

                known = [k for k in registry if k.startswith("NavFusion/")]
                raise NavFusionError(f"unknown environment id {text!r}; navfusion ids: {', '.join(known)}; or pass "
                                     f"a suite name or YAML path.{suggest(text, known)}") from None
        return EnvSpec(text, m["suite"])

    looks_like_path = text.endswith((".yaml", ".yml")) or os.path.isfile(text) or \
        (os.sep in text and not text.startswith("NavFusion/"))
    if not looks_like_path and "/" in text:
        raise NavFusionError(f"bad env id {text!r}: expected an id like {ENV_IDS[0]}, a suite name "
                             f"({', '.join(SUITES)}) or a suite YAML path")
    suite = load_suite(text)  # raises for unknown names and missing or malformed files
    if looks_like_path:
        assert suite.path is not None
        return EnvSpec(GENERIC_ID, suite.name, {"suite": str(suite.path)})
    if suite.name in SUITES:
        return EnvSpec(env_id(suite.name), suite.name)
    return EnvSpec(GENERIC_ID, suite.name, {"suite": str(suite.path) if suite.path else suite.name})


def register_envs() -> None:
    """Register ``NavFusion/OctoNav-<suite>-v0`` for each shipped suite and the suite-agnostic
    ``NavFusion/OctoNav-v0`` (``suite=`` a name or YAML path) (idempotent)."""
    for suite in SUITES:
        eid = env_id(suite)
        if eid in registry:
            continue
        register(id=eid, entry_point="navfusion.env:OctoNavEnv", max_episode_steps=HORIZON,
                 kwargs={"suite": suite, **DEFAULT_KWARGS})
    if GENERIC_ID not in registry:
        register(id=GENERIC_ID, entry_point="navfusion.env:OctoNavEnv", max_episode_steps=HORIZON,
                 kwargs={"suite": "tiny", **DEFAULT_KWARGS})
