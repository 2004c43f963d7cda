"""What evaluation reads: one scene's data (:class:`SceneData`) and a trained agent's batched
policies (:class:`LoadedAgent`).

Where they come from is the reproduction backend's business (``navfusion.report.backend``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
