"""Batched policies for the stepping engine: action sampling, the stochastic-policy form that wrappers
(``navfusion.agents.memory.with_memory``) reshape, and the model-free baselines (oracle, random walk).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from navfusion.common import NUM_ACTIONS
from navfusion.nav.engine import BatchPolicy, NavArrays, PolicyStep


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs`` (B, A) from ``rng`` (inverse CDF): (B,) int."""
    c = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * c[:, -1:]
    return np.minimum((u >= c).sum(1), probs.shape[1] - 1)


@dataclass
class ActionProbs:
    """A stochastic policy's proposal for B running episodes: probs (B, 9), optional gates (B, K)."""

    probs: np.ndarray
    gates: np.ndarray | None = None


#: ``distribution(nodes (B,), targets (B,), step, episode_index (B,)) -> ActionProbs``.
Distribution = Callable[[np.ndarray, np.ndarray, int, np.ndarray], ActionProbs]
#: ``choose(probs (B, 9), nodes (B,), targets (B,)) -> actions (B,)``: a draw, an argmax, a mixture.
Chooser = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class StochasticPolicy:
    """A :data:`BatchPolicy` that acts in two stages, so a wrapper can reshape the distribution
    between them: ``distribution`` proposes action probabilities, ``choose`` picks the actions.

    ``direct``, when set, is how the policy acts when nothing reshapes its distribution (the random
    walk draws integers directly; its seeded results depend on those draws).
    """

    distribution: Distribution
    choose: Chooser
    direct: BatchPolicy | None = None

    def __call__(self, nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> PolicyStep:
        if self.direct is not None:
            return self.direct(nodes, targets, t, eidx)
        out = self.distribution(nodes, targets, t, eidx)
        return PolicyStep(self.choose(out.probs, nodes, targets), out.gates)


def oracle_policy(arrays: NavArrays) -> BatchPolicy:
    """The shortest-path oracle: the table's next action (stop at the goal)."""
    orc = np.asarray(arrays.oracle)

    def act(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> PolicyStep:
        return PolicyStep(orc[targets, nodes])

    return act


def random_policy(seed: int = 0, include_stop: bool = True) -> StochasticPolicy:
    """A uniform random walk over the 9 actions (or the 8 moves), seeded.

    Called as is, it draws integers; under a wrapper that reshapes its distribution (the action
    memory) it samples the reshaped uniform distribution with the same generator.
    """
    rng = np.random.default_rng(seed)
    n = NUM_ACTIONS if include_stop else NUM_ACTIONS - 1

    def uniform(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> ActionProbs:
        p = np.zeros((len(nodes), NUM_ACTIONS))
        p[:, :n] = 1.0 / n
        return ActionProbs(p)

    def draw(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> PolicyStep:
        return PolicyStep(rng.integers(0, n, size=len(nodes)))

    return StochasticPolicy(uniform, lambda p, nodes, targets: sample_actions(p, rng), direct=draw)
