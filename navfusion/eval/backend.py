"""What the reproduction pipeline needs from the rest of navfusion, as one small protocol.

``reproduce`` orchestrates; a backend does the work: build the world, train an agent, and hand out
batched policies for evaluation. :mod:`navfusion.eval.real` wires the real stack (scenes, views,
features, agents, imitation training); :mod:`navfusion.eval.synthetic_backend` is a model-free
stand-in on synthetic grids used to test the orchestration quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from navfusion.nav.engine import BatchPolicy, Episodes, NavArrays


@dataclass
class SceneData:
    """One evaluation scene.

    Attributes:
        scene_id: ``<suite>/<split>/<index>``.
        arrays: neighbor/distance/oracle tables (with ``positions``).
        episodes: the evaluation episode set (the first ``n`` are used).
        openness: (N,) distance from each node to the nearest obstacle in metres, or None.
        views: ``views(nodes (T,)) -> (T, 8, H, W, 3) uint8`` for animations, or None.
        goal_nodes: per target index, the goal node ids (for maps), optional.
        scene: the Scene object for floor-plan underlays, optional.
    """

    scene_id: str
    arrays: NavArrays
    episodes: Episodes
    openness: np.ndarray | None = None
    views: Callable[[np.ndarray], np.ndarray] | None = None
    goal_nodes: dict[int, np.ndarray] | None = None
    scene: object | None = None


class LoadedAgent(Protocol):
    """A trained agent ready for batched evaluation."""

    #: Representation (expert) names in gate order, or None for agents without experts.
    expert_names: list[str] | None

    def policy(self, scene: SceneData, *, seed: int, expert_mask: np.ndarray | None = None,
               noise_mask: np.ndarray | None = None, noise_std: float = 0.0, only_expert: int | None = None,
               greedy: bool = False) -> BatchPolicy:
        """A batched policy on ``scene``.

        ``expert_mask`` (K,) bool keeps experts (False = dropped); ``noise_mask`` (K,) bool marks experts
        whose features get Gaussian noise of ``noise_std``; ``only_expert`` evaluates one expert alone
        (single-expert banks).
        """

    def node_gates(self, scene: SceneData, nodes: np.ndarray, target: int) -> np.ndarray | None:
        """Gate weights (n, K) at ``nodes`` for ``target`` (None for ungated agents)."""


class Backend(Protocol):
    name: str

    def check(self, cfg) -> None:
        """Validate the recipe against what exists (suite, agent recipes); raise NavFusionError."""

    def prepare(self, cfg, log: Callable[[str], None]) -> dict:
        """Build whatever is missing (scenes, graphs, views, features); returns JSON-able info."""

    def test_scenes(self, cfg) -> list[str]:
        """Scene ids of the evaluation split (at most ``cfg.max_test_scenes``)."""

    def scene(self, scene_id: str, cfg) -> SceneData:
        """The evaluation data of one scene."""

    def train(self, key: str, entry, seed: int, run_dir: Path, cfg, log: Callable[[str], None]) -> None:
        """Train (or resume training) agent ``entry`` with ``seed`` into ``run_dir``."""

    def load(self, run_dir: Path, entry, cfg) -> LoadedAgent:
        """Load a trained run for evaluation; a folder without a checkpoint raises NavFusionError."""

    def versions(self) -> dict:
        """Component versions / settings worth recording in the report."""


def get_backend(suite: str) -> Backend:
    """The synthetic backend for ``suite: synthetic``, else the real stack."""
    if suite == "synthetic":
        from navfusion.eval.synthetic_backend import SyntheticBackend

        return SyntheticBackend()
    from navfusion.eval.real import RealBackend

    return RealBackend()
