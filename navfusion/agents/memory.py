"""Short-term action memory of a navigating agent, applied when it acts (nothing here is learned).

The paper's agent is reactive: it sees the 8 views of its node and nothing else. On unseen scenes
such an agent wastes most of its steps in two ways (docs/agents.md): it retries a move that just
collided (a low obstacle within one step is below the 1.25 m camera's view, and after a collision
the agent sees the very same views), and it dithers, stepping back along the move it just made. An
:class:`ActionMemory` remembers, per episode, its last node and move:

* ``avoid_collided``: a move that collided at the current node (the agent did not move; the
  environment reports it as ``info["collided"]``) is not tried again until the agent has moved;
* ``avoid_backtrack``: the reverse of the last move that succeeded is not taken unless every other
  move has collided here (a non-backtracking walk).

Both act on the action distribution: the barred moves get probability 0 and the rest is
renormalised, so sampling and argmax both respect them. Stopping is never barred. A policy gets a
memory by wrapping: :func:`with_memory` (the stepping engine in ``navfusion.nav`` knows nothing of it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from navfusion.common import NUM_ACTIONS, NUM_VIEWS, STOP_ACTION
from navfusion.nav.engine import BatchPolicy, PolicyStep
from navfusion.nav.policies import StochasticPolicy

if TYPE_CHECKING:
    from navfusion.agents.config import MemoryConfig


class ActionMemory:
    """Memory of the running episodes of one batched rollout (one scene).

    Episodes are identified by the evaluator's episode index; the memory grows to fit any index.

    Args:
        avoid_collided: bar moves that collided at the current node.
        avoid_backtrack: bar the reverse of the last successful move (unless nothing else is left).
    """

    def __init__(self, avoid_collided: bool = True, avoid_backtrack: bool = True) -> None:
        self.avoid_collided = bool(avoid_collided)
        self.avoid_backtrack = bool(avoid_backtrack)
        self._node = np.zeros(0, np.int64)      # (E,) node of the last step, -1 before the first
        self._move = np.zeros(0, np.int64)      # (E,) action of the last step
        self._collided = np.zeros((0, NUM_VIEWS), bool)  # (E, 8) moves that collided at the current node
        self._back = np.zeros(0, np.int64)      # (E,) reverse of the last successful move, -1 if none

    @classmethod
    def from_config(cls, cfg: MemoryConfig) -> ActionMemory:
        """The memory a recipe's ``memory:`` section asks for."""
        return cls(cfg.avoid_collided, cfg.avoid_backtrack)

    @property
    def active(self) -> bool:
        return self.avoid_collided or self.avoid_backtrack

    def _grow(self, n: int) -> None:
        old = len(self._node)
        if n <= old:
            return
        extra = n - old
        self._node = np.r_[self._node, np.full(extra, -1, np.int64)]
        self._move = np.r_[self._move, np.full(extra, STOP_ACTION, np.int64)]
        self._collided = np.r_[self._collided, np.zeros((extra, NUM_VIEWS), bool)]
        self._back = np.r_[self._back, np.full(extra, -1, np.int64)]

    def _observe(self, nodes: np.ndarray, eidx: np.ndarray) -> None:
        """Update with the nodes the episodes are at now (the outcome of their last move)."""
        last, move = self._node[eidx], self._move[eidx]
        stepped = last >= 0
        moved = stepped & (last != nodes)
        bumped = stepped & ~moved & (move < NUM_VIEWS)
        self._collided[eidx[moved]] = False
        self._back[eidx[moved]] = (move[moved] + NUM_VIEWS // 2) % NUM_VIEWS
        self._collided[eidx[bumped], move[bumped]] = True

    def barred(self, nodes: np.ndarray, eidx: np.ndarray) -> np.ndarray:
        """``(B, 9)`` bool: the actions the memory bars for episodes ``eidx`` (B,) now at ``nodes`` (B,).

        Call once per step, before :meth:`record` of that step's actions.
        """
        nodes = np.asarray(nodes, np.int64)
        eidx = np.asarray(eidx, np.int64)
        self._grow(int(eidx.max()) + 1 if eidx.size else 0)
        self._observe(nodes, eidx)
        out = np.zeros((len(eidx), NUM_ACTIONS), bool)
        if self.avoid_collided:
            out[:, :NUM_VIEWS] = self._collided[eidx]
        if self.avoid_backtrack:
            back = self._back[eidx]
            rows = np.flatnonzero(back >= 0)
            trial = out[rows].copy()
            trial[np.arange(len(rows)), back[rows]] = True
            # the way back stays open when every other move has collided here
            keep = ~trial[:, :NUM_VIEWS].all(1)
            out[rows[keep]] = trial[keep]
        return out

    def filter(self, probs: np.ndarray, nodes: np.ndarray, eidx: np.ndarray) -> np.ndarray:
        """``probs`` (B, 9) with the barred actions zeroed and rows renormalised (a row with no
        probability left is returned unchanged)."""
        if not self.active:
            return probs
        q = np.where(self.barred(nodes, eidx), 0.0, probs)
        total = q.sum(1, keepdims=True)
        ok = total[:, 0] > 0
        out = np.array(probs, dtype=np.float64, copy=True)
        out[ok] = q[ok] / total[ok]
        return out

    def record(self, nodes: np.ndarray, eidx: np.ndarray, actions: np.ndarray) -> None:
        """Remember the actions (B,) the episodes ``eidx`` took from ``nodes``."""
        if not self.active:
            return
        eidx = np.asarray(eidx, np.int64)
        self._grow(int(eidx.max()) + 1 if eidx.size else 0)
        self._node[eidx] = np.asarray(nodes, np.int64)
        self._move[eidx] = np.asarray(actions, np.int64)


def with_memory(policy: StochasticPolicy, memory: ActionMemory) -> BatchPolicy:
    """``policy`` choosing from its distribution with ``memory``'s barred actions removed, and the
    memory recording what it chose; ``policy`` itself when the memory bars nothing."""
    if not memory.active:
        return policy

    def act(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> PolicyStep:
        out = policy.distribution(nodes, targets, t, eidx)
        a = policy.choose(memory.filter(out.probs, nodes, eidx), nodes, targets)
        memory.record(nodes, eidx, a)
        return PolicyStep(a, out.gates)

    return act
