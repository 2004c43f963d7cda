"""Reproduction recipes (``configs/<name>.yaml``): which suite, which agents, how many seeds/episodes.

Example::

    name: quickstart
    suite: quickstart            # environment suite (envs/<suite>.yaml) or "synthetic"
    resolution: 64               # RGB side for views (gate / ResNet input)
    seeds: [0]
    episodes_per_scene: 256
    workers: 2                   # processes: scenes built, and agents trained + evaluated, side by side
    train: {iterations: 300}     # training overrides for every agent (entries add their own)
    agent_overrides: {encoders: [depth_zbuffer, normal]}   # agent-recipe fields for every agent
    agents:                      # Table-1 rows, in order
      random: {label: Random}
      action_fusion: {label: Action-level fusion, train: {iterations: 300}}
    single_experts: {agent: single_all, train: {iterations: 300}}
    robustness: {agents: [feature_fusion, action_fusion], shares: [0, 0.25, 0.5, 0.75]}
    situational: {agent: action_fusion_affinity, scenes: 2}
    test_seeds: '2900000:8'      # optional: evaluate on a seed block no suite names
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from navfusion.common import HORIZON, SUCCESS_RADIUS
from navfusion.config import check, from_dict, load_yaml, repo_root
from navfusion.errors import ConfigError, NavFusionError

#: Table-1 rows of the paper and their default labels (agent recipe name -> label).
PAPER_ROWS: dict[str, str] = {
    "random": "Random",
    "resnet": "ResNet",
    "concat": "Concat",
    "feature_fusion": "Feature-level fusion",
    "action_fusion": "Action-level fusion",
    "action_fusion_affinity": "Action-level fusion + affinity",
}


@dataclass
class AgentEntry:
    """One agent of the recipe.

    Attributes:
        agent: recipe name in ``agents/`` or a path (defaults to the entry's key).
        label: row label in the tables (defaults to the paper's name for known rows).
        train: training overrides merged into the agent recipe's ``train:`` section.
        overrides: top-level agent-recipe overrides (e.g. ``encoders``, ``resolution``).
    """

    agent: str = ""
    label: str = ""
    train: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(isinstance(self.train, dict), "train", self.train, "a mapping")
        check(isinstance(self.overrides, dict), "overrides", self.overrides, "a mapping")


@dataclass
class RobustnessConfig:
    """Test-time corruption of representations.

    Attributes:
        agents: keys of ``agents`` to test (action- vs feature-level fusion).
        shares: shares of the K representations dropped / noised.
        modes: ``drop`` (expert masked out) and/or ``noise`` (Gaussian noise on the features).
        noise_std: noise level passed to the model for the noised representations (in feature std units).
        episodes_per_scene: episodes per test scene for each point (default: the recipe's).
        seed: which training seed's run is corrupted.
    """

    agents: list[str] = field(default_factory=lambda: ["feature_fusion", "action_fusion"])
    shares: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75])
    modes: list[str] = field(default_factory=lambda: ["drop", "noise"])
    noise_std: float = 1.0
    episodes_per_scene: int | None = None
    repeats: int = 1

    def __post_init__(self) -> None:
        check(all(0.0 <= float(s) < 1.0 for s in self.shares), "robustness.shares", self.shares, "in [0, 1)")
        check(set(self.modes) <= {"drop", "noise"} and self.modes, "robustness.modes", self.modes,
              "a non-empty subset of [drop, noise]")
        check(float(self.noise_std) >= 0, "robustness.noise_std", self.noise_std, ">= 0")
        check(isinstance(self.repeats, int) and self.repeats >= 1, "robustness.repeats", self.repeats, "an int >= 1")


@dataclass
class SituationalConfig:
    """Fusion-weight analysis of a gated agent on test scenes.

    Attributes:
        agent: key of ``agents`` (a gated agent).
        scenes: how many test scenes get per-node maps.
        animate: write an episode GIF.
    """

    agent: str = "action_fusion_affinity"
    scenes: int = 2
    animate: bool = True

    def __post_init__(self) -> None:
        check(isinstance(self.scenes, int) and self.scenes >= 1, "situational.scenes", self.scenes, "an int >= 1")


@dataclass
class ReproduceConfig:
    """A reproduction recipe (see the module docstring).

    Selection rule: every choice (checkpoints, settings, recipe defaults) is made on ``val``; the
    ``eval_split`` (test) is evaluated once per final run. ``test_seeds: START:COUNT`` (or
    ``--test-seeds``) evaluates on a fresh block of the suite's generator instead (see
    ``navfusion.eval.heldout``); ``eval_suite`` is then set to that block's suite.
    """

    name: str
    suite: str
    resolution: int = 64
    seeds: list[int] = field(default_factory=lambda: [0])
    eval_split: str = "test"
    train_split: str = "train"
    test_seeds: str | None = None
    eval_suite: str = ""
    episodes_per_scene: int = 1024
    max_test_scenes: int | None = None
    horizon: int = HORIZON
    success_radius: int = SUCCESS_RADIUS
    bootstrap: int = 2000
    agents: dict[str, AgentEntry] = field(default_factory=dict)
    single_experts: AgentEntry | None = None
    robustness: RobustnessConfig | None = field(default_factory=RobustnessConfig)
    situational: SituationalConfig | None = field(default_factory=SituationalConfig)
    train: dict[str, Any] = field(default_factory=dict)
    agent_overrides: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    small_sample: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and self.name, "name", self.name, "a non-empty string")
        check(isinstance(self.suite, str) and self.suite, "suite", self.suite, "a suite name")
        check(self.train_split != self.eval_split, "eval_split", self.eval_split,
              f"a split other than train_split ({self.train_split}): agents are evaluated on unseen scenes")
        if self.test_seeds is not None:
            # YAML 1.1 reads an unquoted 2900000:8 as a base-60 integer
            check(isinstance(self.test_seeds, str), "test_seeds", self.test_seeds, "a quoted 'START:COUNT' string")
            from navfusion.eval.heldout import parse_seed_block

            parse_seed_block(str(self.test_seeds), "test_seeds")
        check(isinstance(self.seeds, list) and self.seeds and all(isinstance(s, int) for s in self.seeds),
              "seeds", self.seeds, "a non-empty list of ints")
        check(isinstance(self.episodes_per_scene, int) and self.episodes_per_scene >= 1, "episodes_per_scene",
              self.episodes_per_scene, "an int >= 1")
        check(isinstance(self.resolution, int) and 8 <= self.resolution <= 512, "resolution", self.resolution,
              "an int in [8, 512]")
        check(isinstance(self.train, dict), "train", self.train, "a mapping of training overrides")
        check(isinstance(self.workers, int) and self.workers >= 1, "workers", self.workers,
              "an int >= 1 (processes running independent agents side by side)")
        check(isinstance(self.build, dict) and set(self.build) <= {"workers"}, "build", self.build,
              "a mapping with optional 'workers' (feature-building processes)")
        check(isinstance(self.agent_overrides, dict), "agent_overrides", self.agent_overrides,
              "a mapping of agent-recipe fields (e.g. encoders)")
        check(isinstance(self.agents, dict) and len(self.agents) > 0, "agents", self.agents,
              "a non-empty mapping of agent entries")
        agents = {}
        for key, e in self.agents.items():
            e = from_dict(AgentEntry, e or {}, where=f"agents.{key}") if not isinstance(e, AgentEntry) else e
            e.agent = e.agent or key
            e.label = e.label or PAPER_ROWS.get(key, key)
            agents[str(key)] = e
        self.agents = agents
        if isinstance(self.single_experts, dict):
            self.single_experts = from_dict(AgentEntry, self.single_experts, where="single_experts")
        if self.single_experts is not None:
            self.single_experts.agent = self.single_experts.agent or "single_all"
            self.single_experts.label = self.single_experts.label or "single experts"
        if isinstance(self.robustness, dict):
            self.robustness = from_dict(RobustnessConfig, self.robustness, where="robustness")
        if isinstance(self.situational, dict):
            self.situational = from_dict(SituationalConfig, self.situational, where="situational")
        if self.robustness is not None:
            for a in self.robustness.agents:
                check(a in self.agents, "robustness.agents", a, f"a key of agents ({', '.join(self.agents)})")
        if self.situational is not None:
            check(self.situational.agent in self.agents, "situational.agent", self.situational.agent,
                  f"a key of agents ({', '.join(self.agents)})")


def resolve_recipe_path(name_or_path: str | os.PathLike) -> Path:
    """``configs/NAME.yaml`` from a path or a bare name."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    cand = repo_root() / "configs" / f"{name_or_path}.yaml"
    if cand.is_file():
        return cand
    # configs/zoo_*.yaml are pretraining recipes (`navfusion encoders pretrain`), not experiments
    known = sorted(q.stem for q in (repo_root() / "configs").glob("*.yaml") if not q.stem.startswith("zoo_"))
    from navfusion.common import suggest

    raise NavFusionError(f"recipe not found: {name_or_path} (shipped: {', '.join(known) or 'none'})."
                         f"{suggest(Path(str(name_or_path)).stem, known)}")


def load_recipe(name_or_path: str | os.PathLike) -> tuple[ReproduceConfig, dict[str, Any]]:
    """Load and validate a reproduction recipe; returns the config and the raw mapping."""
    path = resolve_recipe_path(name_or_path)
    raw = load_yaml(path, what="recipe")
    try:
        cfg = from_dict(ReproduceConfig, raw, where=str(path))
    except ConfigError:
        raise
    return cfg, raw
