"""A synthetic octagonal-grid world (no scene, no renderer) for testing evaluators and figures."""

from __future__ import annotations

from collections import deque

import numpy as np

from navfusion.common import MAX_DISTANCE, MIN_DISTANCE, STOP_ACTION, TARGETS
from navfusion.nav.engine import Episodes, NavArrays

#: Lattice offsets of the 8 moves (E, NE, N, NW, W, SW, S, SE) in (dx, dy).
MOVES = np.array([(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)])


def grid_world(width: int = 24, height: int = 16, obstacle_share: float = 0.12, seed: int = 0,
               goals_per_target: int = 2) -> NavArrays:
    """An 8-connected grid with random blocked cells and a few goal nodes per target.

    Diagonal moves need both adjacent axis cells free (no corner cutting). Distances come from a
    BFS on the reversed graph; the oracle picks the lowest-index move that decreases the distance.
    """
    rng = np.random.default_rng(seed)
    free = rng.random((width, height)) >= obstacle_share
    ids = -np.ones((width, height), np.int64)
    xy = np.argwhere(free)
    ids[xy[:, 0], xy[:, 1]] = np.arange(len(xy))
    n = len(xy)
    nbr = -np.ones((n, 8), np.int64)
    for k, (dx, dy) in enumerate(MOVES):
        tx, ty = xy[:, 0] + dx, xy[:, 1] + dy
        ok = (tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)
        ok[ok] &= free[tx[ok], ty[ok]]
        if dx and dy:
            ax, ay = xy[:, 0] + dx, xy[:, 1]
            bx, by = xy[:, 0], xy[:, 1] + dy
            okb = ok.copy()
            okb[okb] &= free[np.clip(ax[okb], 0, width - 1), ay[okb]] & free[bx[okb], np.clip(by[okb], 0, height - 1)]
            ok = okb
        nbr[ok, k] = ids[tx[ok], ty[ok]]
    rev: list[list[int]] = [[] for _ in range(n)]
    for u in range(n):
        for v in nbr[u]:
            if v >= 0:
                rev[v].append(u)
    dist = -np.ones((len(TARGETS), n), np.int64)
    orc = np.full((len(TARGETS), n), STOP_ACTION, np.int64)
    for t in range(len(TARGETS)):
        goals = rng.choice(n, size=goals_per_target, replace=False)
        dist[t, goals] = 0
        q = deque(goals.tolist())
        while q:
            v = q.popleft()
            for u in rev[v]:
                if dist[t, u] < 0:
                    dist[t, u] = dist[t, v] + 1
                    q.append(u)
        for u in range(n):
            if dist[t, u] > 0:
                for k in range(8):
                    v = nbr[u, k]
                    if v >= 0 and dist[t, v] == dist[t, u] - 1:
                        orc[t, u] = k
                        break
    pos = np.zeros((n, 3))
    pos[:, :2] = xy * 0.5
    return NavArrays(neighbors=nbr, distance=dist, oracle=orc, positions=pos)


def sample_episodes(arrays: NavArrays, n: int, seed: int = 0, min_len: int = MIN_DISTANCE,
                    max_len: int = MAX_DISTANCE) -> Episodes:
    """``n`` episodes with start-to-goal distance in ``[min_len, max_len]`` (the paper's range)."""
    rng = np.random.default_rng(seed)
    T, N = arrays.distance.shape
    starts, tg = [], []
    while len(starts) < n:
        t = int(rng.integers(T))
        cand = np.flatnonzero((arrays.distance[t] >= min_len) & (arrays.distance[t] <= max_len))
        if cand.size == 0:
            continue
        starts.append(int(rng.choice(cand)))
        tg.append(t)
    s = np.array(starts, np.int64)
    t = np.array(tg, np.int64)
    return Episodes(start=s, target=t, shortest=arrays.distance[t, s])
