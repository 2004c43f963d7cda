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
    nbr = np.asarray(arrays.neighbors)
    dist_all = np.asarray(arrays.distance)
    E = len(episodes)
    node = np.asarray(episodes.start, np.int64).copy()
    tgt = np.asarray(episodes.target, np.int64)
    d0 = np.asarray(episodes.shortest, np.int64)

    def dist_at(idx: np.ndarray) -> np.ndarray:
        return dist_all[tgt[idx], node[idx]]

    active = np.ones(E, bool)
    path = np.zeros(E, np.int64)
    steps = np.zeros(E, np.int64)
    coll = np.zeros(E, np.int64)
    succ_stop = np.zeros(E, bool)
    # Reach-mode outcome, frozen at the first node within the radius.
    reached = np.zeros(E, bool)
    r_steps = np.zeros(E, np.int64)
    r_path = np.zeros(E, np.int64)
    r_coll = np.zeros(E, np.int64)
    reach_done = np.zeros(E, bool)                         # reach-mode episode has ended
    all_idx = np.arange(E)
    d_start = dist_at(all_idx)
    hit0 = within_radius(d_start, radius)
    reached |= hit0
    reach_done |= hit0
    nodes_rec = np.full((E, horizon + 1), -1, np.int64) if record else None
    gates_rec = None
    if record:
        nodes_rec[:, 0] = node
    for t in range(horizon):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        out = policy(node[idx], tgt[idx], t, idx)
        if not isinstance(out, PolicyStep):
            out = PolicyStep(np.asarray(out))
        a = np.asarray(out.actions, np.int64).reshape(-1)
        if a.shape[0] != idx.size or (a.size and (a.min() < 0 or a.max() >= NUM_ACTIONS)):
            raise ValueError(f"policy returned actions of shape {a.shape} / range outside 0..8 for {idx.size} episodes")
        if record and out.gates is not None:
            g = np.asarray(out.gates, np.float32)
            if gates_rec is None:
                gates_rec = np.full((E, horizon, g.shape[1]), np.nan, np.float32)
            gates_rec[idx, t] = g
        steps[idx] += 1
        is_stop = a == STOP_ACTION
        s_idx = idx[is_stop]
        if s_idx.size:
            ds = dist_at(s_idx)
            succ_stop[s_idx] = within_radius(ds, radius)
            active[s_idx] = False
            # Stopping ends a reach-mode episode too (unsuccessfully, since it had not reached yet).
            newly = s_idx[~reach_done[s_idx]]
            r_steps[newly] = steps[newly]
            r_path[newly] = path[newly]
            r_coll[newly] = coll[newly]
            reach_done[newly] = True
        m_idx = idx[~is_stop]
        if m_idx.size:
            nxt = nbr[node[m_idx], a[~is_stop]]
            blocked = nxt < 0
            coll[m_idx[blocked]] += 1
            moved = m_idx[~blocked]
            node[moved] = nxt[~blocked]
            path[moved] += 1
            dm = dist_at(m_idx)
            hit = within_radius(dm, radius) & ~reach_done[m_idx]
            h_idx = m_idx[hit]
            reached[h_idx] = True
            reach_done[h_idx] = True
            r_steps[h_idx] = steps[h_idx]
            r_path[h_idx] = path[h_idx]
            r_coll[h_idx] = coll[h_idx]
        if record:
            nodes_rec[idx, t + 1] = node[idx]
    # Horizon exhausted: whatever is still open ends now.
    open_r = ~reach_done
    r_steps[open_r] = steps[open_r]
    r_path[open_r] = path[open_r]
    r_coll[open_r] = coll[open_r]
    final_d = dist_at(all_idx)
    return EpisodeResults(
        target=tgt.copy(), start=np.asarray(episodes.start, np.int64).copy(), shortest=d0.copy(),
        success_reach=reached.astype(np.float64), success_stop=succ_stop.astype(np.float64),
        spl_reach=spl(reached, spl_length(d0, radius, "reach"), r_path),
        spl_stop=spl(succ_stop, spl_length(d0, radius, "stop"), path),
        steps_reach=r_steps, steps_stop=steps, path_reach=r_path, path_stop=path,
        collisions_reach=r_coll, collisions_stop=coll, final_distance=final_d,
        nodes=nodes_rec, gates=gates_rec,
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
