"""The stepping engine: every episode of a scene stepped together as arrays, and one episode stepped
action by action (the Gymnasium env's), under the same rules.

Because an observation is a function of the node, a whole episode set can be advanced at once:
positions are node indices, a move is a lookup in the graph's ``neighbors`` table, and the policy
is called once per step on the batch of still-running episodes (:func:`run_batched`). One pass in
*stop* semantics also yields the *reach* result: the success mode only decides when an episode
terminates, so the reach-mode episode is the prefix of the stop-mode one up to the first node within
the success radius (identical decisions, identical RNG draws). :class:`SingleEpisode` is the same
walk for one episode driven from outside (``navfusion.env.OctoNavEnv.step``); both use
:func:`within_radius` for success and :func:`spl_length` / :func:`spl` for SPL.

Protocol (paper, constants in ``navfusion.common``): horizon ``HORIZON`` actions, success radius
``SUCCESS_RADIUS`` steps; SPL (Anderson et al. 2018) with path lengths counted in steps (a blocked
move travels 0 steps and counts as a collision).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from navfusion.common import HORIZON, NUM_ACTIONS, STOP_ACTION, SUCCESS_RADIUS

#: How an episode succeeds: ``reach`` (the paper's: on arriving within the radius) or ``stop``
#: (only by stopping within it).
SUCCESS_MODES: tuple[str, ...] = ("reach", "stop")


@dataclass
class NavArrays:
    """The tables of one scene the evaluator needs.

    Attributes:
        neighbors: (N, 8) int, the node reached by move k, -1 where blocked.
        distance: (T, N) int steps to the nearest goal of target t (``TARGETS`` order), -1 unreachable.
        oracle: (T, N) int oracle action (0..8) per target and node.
        positions: (N, 3) float node positions (only for figures), optional.
    """

    neighbors: np.ndarray
    distance: np.ndarray
    oracle: np.ndarray
    positions: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.neighbors.shape[0])


@dataclass
class Episodes:
    """An episode set: start node (E,), target index (E,) into ``TARGETS``, shortest length (E,) steps."""

    start: np.ndarray
    target: np.ndarray
    shortest: np.ndarray

    def __len__(self) -> int:
        return int(len(self.start))

    def subset(self, n: int) -> Episodes:
        return Episodes(self.start[:n], self.target[:n], self.shortest[:n])


@dataclass
class PolicyStep:
    """What a batched policy returns for B running episodes: actions (B,) int, optional gates (B, K)."""

    actions: np.ndarray
    gates: np.ndarray | None = None


#: A batched policy: ``policy(nodes (B,), targets (B,), step, episode_index (B,)) -> PolicyStep``.
BatchPolicy = Callable[[np.ndarray, np.ndarray, int, np.ndarray], PolicyStep]


@dataclass
class EpisodeResults:
    """Per-episode outcomes (all arrays (E,)); ``nodes`` (E, H+1) with -1 after the end, ``gates`` (E, H, K)."""

    target: np.ndarray
    start: np.ndarray
    shortest: np.ndarray
    success_reach: np.ndarray
    success_stop: np.ndarray
    spl_reach: np.ndarray
    spl_stop: np.ndarray
    steps_reach: np.ndarray
    steps_stop: np.ndarray
    path_reach: np.ndarray
    path_stop: np.ndarray
    collisions_reach: np.ndarray
    collisions_stop: np.ndarray
    final_distance: np.ndarray
    nodes: np.ndarray | None = None
    gates: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.target))

    def scalar_fields(self) -> dict[str, np.ndarray]:
        """The per-episode columns (no trajectories), for CSV/JSON."""
        skip = {"nodes", "gates", "extra"}
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    @staticmethod
    def concat(parts: list[EpisodeResults]) -> EpisodeResults:
        cols = {}
        for k in parts[0].scalar_fields():
            cols[k] = np.concatenate([getattr(p, k) for p in parts])
        return EpisodeResults(**cols)


def within_radius(d, radius: int):
    """Success test: reachable (``d >= 0``) and at most ``radius`` moves from a goal; ``d`` an int or an array."""
    return (d >= 0) & (d <= radius)


def spl_length(d0, radius: int, mode: str):
    """The shortest path length SPL credits for a start ``d0`` moves from the goal (int or array): in
    ``reach`` mode ``max(d0 - radius, 0)`` (the oracle reaches the success region in that many steps),
    in ``stop`` mode ``d0`` (the oracle walks to the goal and stops)."""
    return np.maximum(np.subtract(d0, radius), 0) if mode == "reach" else d0


def spl(success: np.ndarray, shortest: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Success weighted by path length, per episode: ``S * l / max(p, l)`` (l = 0 counts as 1)."""
    s = np.asarray(success, np.float64)
    l = np.asarray(shortest, np.float64)
    p = np.asarray(path, np.float64)
    den = np.maximum(p, l)
    out = np.where(den > 0, l / np.where(den > 0, den, 1.0), 1.0)
    return s * out


def spl_one(success: bool, shortest: int, path: int) -> float:
    """:func:`spl` of one episode with Python scalars (the same value, without array overhead per step)."""
    if not success:
        return 0.0
    den = max(path, shortest)
    return shortest / den if den > 0 else 1.0


def run_batched(arrays: NavArrays, episodes: Episodes, policy: BatchPolicy, horizon: int = HORIZON,
                radius: int = SUCCESS_RADIUS, record: bool = False) -> EpisodeResults:
    """Step all ``episodes`` of one scene together under ``policy``.

    Args:
        arrays: the scene's neighbor/distance/oracle tables.
        episodes: E episodes of this scene.
        policy: batched policy (see ``BatchPolicy``).
        horizon: maximum number of actions per episode (``HORIZON`` in the paper's protocol).
        radius: success radius in steps (``SUCCESS_RADIUS``).
        record: keep the visited nodes (E, H+1) and the gate weights (E, H, K) if the policy gives them.

    SPL's shortest length is :func:`spl_length` of each mode.
    """
    walk = _BatchWalk(arrays, episodes, radius)
    rec = _Recording(walk.node, horizon) if record else None
    for t in range(horizon):
        idx = np.flatnonzero(walk.active)
        if idx.size == 0:
            break
        a, gates = _policy_actions(policy, walk.node[idx], walk.tgt[idx], t, idx)
        if rec is not None and gates is not None:
            rec.add_gates(idx, t, gates)
        walk.steps[idx] += 1
        is_stop = a == STOP_ACTION
        walk.stop(idx[is_stop])
        walk.move(idx[~is_stop], a[~is_stop])
        if rec is not None:
            rec.nodes[idx, t + 1] = walk.node[idx]
    # Horizon exhausted: whatever is still open ends now.
    walk.end_reach(~walk.reach_done)
    return walk.results(episodes, rec)


def _policy_actions(policy: BatchPolicy, nodes: np.ndarray, targets: np.ndarray, t: int,
                    idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The policy's actions (B,) int64 for the B running episodes ``idx``, checked, and its gates (B, K) or None."""
    out = policy(nodes, targets, t, idx)
    if not isinstance(out, PolicyStep):
        out = PolicyStep(np.asarray(out))
    a = np.asarray(out.actions, np.int64).reshape(-1)
    if a.shape[0] != idx.size or (a.size and (a.min() < 0 or a.max() >= NUM_ACTIONS)):
        raise ValueError(f"policy returned actions of shape {a.shape} / range outside 0..8 for {idx.size} episodes")
    return a, out.gates


class _Recording:
    """What ``run_batched(record=True)`` keeps: visited nodes (E, H+1), -1 after the end, and gate
    weights (E, H, K), NaN where an episode took no step (allocated at the first gates seen)."""

    def __init__(self, start: np.ndarray, horizon: int) -> None:
        self.horizon = horizon
        self.nodes = np.full((len(start), horizon + 1), -1, np.int64)
        self.nodes[:, 0] = start
        self.gates: np.ndarray | None = None

    def add_gates(self, idx: np.ndarray, t: int, gates: np.ndarray) -> None:
        """Store step ``t``'s gates (B, K) of the running episodes ``idx`` (B,)."""
        g = np.asarray(gates, np.float32)
        if self.gates is None:
            self.gates = np.full((len(self.nodes), self.horizon, g.shape[1]), np.nan, np.float32)
        self.gates[idx, t] = g


class _BatchWalk:
    """The state of :func:`run_batched`'s E episodes, all (E,) arrays.

    Stop mode: ``node``, ``steps``, ``path`` (moves that changed node), ``coll`` (blocked moves),
    ``active`` and ``succ_stop``. Reach mode shares the walk up to its end and keeps its own outcome:
    ``reached``, ``reach_done`` and ``r_steps`` / ``r_path`` / ``r_coll``, frozen when it ends.
    """

    def __init__(self, arrays: NavArrays, episodes: Episodes, radius: int) -> None:
        self.nbr = np.asarray(arrays.neighbors)
        self.dist_all = np.asarray(arrays.distance)
        self.radius = radius
        E = len(episodes)
        self.node = np.asarray(episodes.start, np.int64).copy()
        self.tgt = np.asarray(episodes.target, np.int64)
        self.d0 = np.asarray(episodes.shortest, np.int64)
        self.active = np.ones(E, bool)
        self.path = np.zeros(E, np.int64)
        self.steps = np.zeros(E, np.int64)
        self.coll = np.zeros(E, np.int64)
        self.succ_stop = np.zeros(E, bool)
        # An episode that starts within the radius has already succeeded (and ended) in reach mode.
        self.reached = within_radius(self.dist_at(np.arange(E)), radius)
        self.reach_done = self.reached.copy()
        self.r_steps = np.zeros(E, np.int64)
        self.r_path = np.zeros(E, np.int64)
        self.r_coll = np.zeros(E, np.int64)

    def dist_at(self, idx: np.ndarray) -> np.ndarray:
        """Goal distance (moves) of episodes ``idx`` at their current node."""
        return self.dist_all[self.tgt[idx], self.node[idx]]

    def end_reach(self, idx: np.ndarray) -> None:
        """End the reach-mode episodes ``idx`` (indices or a mask): their outcome is the walk so far."""
        self.r_steps[idx] = self.steps[idx]
        self.r_path[idx] = self.path[idx]
        self.r_coll[idx] = self.coll[idx]
        self.reach_done[idx] = True

    def stop(self, s_idx: np.ndarray) -> None:
        """Episodes ``s_idx`` chose stop: stop mode ends, succeeding within the radius."""
        if not s_idx.size:
            return
        self.succ_stop[s_idx] = within_radius(self.dist_at(s_idx), self.radius)
        self.active[s_idx] = False
        # Stopping ends a reach-mode episode too (unsuccessfully, since it had not reached yet).
        self.end_reach(s_idx[~self.reach_done[s_idx]])

    def move(self, m_idx: np.ndarray, moves: np.ndarray) -> None:
        """Episodes ``m_idx`` take ``moves`` (0..7); a blocked move stays put and counts as a collision."""
        if not m_idx.size:
            return
        nxt = self.nbr[self.node[m_idx], moves]
        blocked = nxt < 0
        self.coll[m_idx[blocked]] += 1
        moved = m_idx[~blocked]
        self.node[moved] = nxt[~blocked]
        self.path[moved] += 1
        hit = within_radius(self.dist_at(m_idx), self.radius) & ~self.reach_done[m_idx]
        h_idx = m_idx[hit]
        self.reached[h_idx] = True
        self.end_reach(h_idx)

    def results(self, episodes: Episodes, rec: _Recording | None) -> EpisodeResults:
        """Both modes' outcomes per episode, with SPL against each mode's :func:`spl_length`."""
        d0 = self.d0
        final_d = self.dist_at(np.arange(len(episodes)))
        return EpisodeResults(
            target=self.tgt.copy(), start=np.asarray(episodes.start, np.int64).copy(), shortest=d0.copy(),
            success_reach=self.reached.astype(np.float64), success_stop=self.succ_stop.astype(np.float64),
            spl_reach=spl(self.reached, spl_length(d0, self.radius, "reach"), self.r_path),
            spl_stop=spl(self.succ_stop, spl_length(d0, self.radius, "stop"), self.path),
            steps_reach=self.r_steps, steps_stop=self.steps, path_reach=self.r_path, path_stop=self.path,
            collisions_reach=self.r_coll, collisions_stop=self.coll, final_distance=final_d,
            nodes=None if rec is None else rec.nodes, gates=None if rec is None else rec.gates,
        )


class StepOutcome(NamedTuple):
    """One action of a :class:`SingleEpisode`: the node after it, the goal distance before and after
    (moves), whether the move was blocked, and the episode's success and termination."""

    node: int
    distance_before: int
    distance: int
    collided: bool
    success: bool
    terminated: bool


class SingleEpisode:
    """One episode stepped one action at a time under :func:`run_batched`'s rules (the env's engine).

    The tables are Python lists (``neighbors`` (N, 8) and the target's ``distance`` (N,), e.g. from
    ``.tolist()``): a list index is several times faster than a numpy scalar index, and a step here
    touches nothing else. The action must already be validated as an int in ``0..8``.

    Args:
        neighbors: node reached by move k from each node, -1 where blocked.
        distance: moves from each node to the nearest goal of the episode's target.
        start: start node.
        start_distance: the start's distance (the episode's shortest length).
        radius: success radius (moves).
        mode: one of ``SUCCESS_MODES``.
    """

    __slots__ = ("neighbors", "distance", "radius", "reach", "node", "steps", "moves", "shortest", "done")

    def __init__(self, neighbors: list[list[int]], distance: list[int], start: int, start_distance: int,
                 radius: int = SUCCESS_RADIUS, mode: str = "reach") -> None:
        self.neighbors, self.distance, self.radius = neighbors, distance, radius
        self.reach = mode == "reach"
        self.node = start
        self.steps = 0
        self.moves = 0  # moves that changed node: SPL's path length
        self.shortest = int(spl_length(int(start_distance), radius, mode))
        self.done = False

    def step(self, action: int) -> StepOutcome:
        """Apply ``action`` (0..7 a move, 8 stop) and say what happened."""
        node = self.node
        d_before = self.distance[node]
        collided = False
        self.steps += 1
        stop = action == STOP_ACTION
        if not stop:
            nxt = self.neighbors[node][action]
            if nxt < 0:
                collided = True
            else:
                self.moves += 1
                node = self.node = nxt
        d = self.distance[node]
        near = within_radius(d, self.radius)
        if self.reach:
            success, terminated = near, near or stop
        else:
            success, terminated = stop and near, stop
        self.done = terminated
        return StepOutcome(node, d_before, d, collided, success, terminated)

    def spl(self, success: bool) -> float:
        """SPL of the episode so far, given its success."""
        return spl_one(success, self.shortest, self.moves)
