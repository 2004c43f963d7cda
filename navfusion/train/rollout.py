"""Running an agent in the graph without the environment object: batched rollouts for validation
and for DAgger (visited states are relabelled by the oracle), and the oracle-path states that seed
imitation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from navfusion.agents.memory import ActionMemory, with_memory
from navfusion.agents.models import Agent
from navfusion.common import HORIZON, MAX_DISTANCE, MIN_DISTANCE, STOP_ACTION
from navfusion.nav.engine import BatchPolicy, Episodes, NavArrays, run_batched
from navfusion.nav.policies import ActionProbs, StochasticPolicy, sample_actions
from navfusion.train.data import NavData


def agent_policy(agent: Agent, data: NavData, scene: int, sample: bool, rng: np.random.Generator | None = None,
                 oracle_beta: float = 0.0, expert_mask=None, noise: float = 0.0) -> BatchPolicy:
    """A batched policy of ``agent`` in scene ``scene`` of ``data``.

    ``sample``: draw actions from the policy with ``rng`` (else argmax). ``oracle_beta``: each step,
    with this probability the oracle acts instead (DAgger's mixture policy). The agent's action
    memory (``cfg.memory``) bars moves as it would in evaluation.
    """
    arrays = data.arrays[scene]
    gen = None
    if noise > 0 and rng is not None:
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))

    @torch.no_grad()
    def distribution(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> ActionProbs:
        inp = data.inputs(np.full(len(nodes), scene), nodes, targets)
        out = agent(inp, expert_mask=expert_mask, noise=noise, generator=gen)
        return ActionProbs(out.probs.double().numpy(), None if out.gate is None else out.gate.numpy())

    def choose(p: np.ndarray, nodes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        a = sample_actions(p, rng) if sample else p.argmax(1)
        if oracle_beta > 0:
            use = rng.random(len(nodes)) < oracle_beta
            a = np.where(use, arrays.oracle[targets, nodes], a)
        return a

    return with_memory(StochasticPolicy(distribution, choose), ActionMemory.from_config(agent.cfg.memory))


def sample_starts(arrays: NavArrays, n: int, rng: np.random.Generator, min_distance: int = MIN_DISTANCE,
                  max_distance: int = MAX_DISTANCE) -> Episodes:
    """``n`` episodes (start, target) with start distance in ``[min, max]``, drawn from ``rng``."""
    d = arrays.distance
    pairs = np.argwhere((d >= min_distance) & (d <= max_distance))  # (P, 2) (target, node)
    if len(pairs) == 0:
        return Episodes(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    pick = pairs[rng.integers(len(pairs), size=n)]
    return Episodes(start=pick[:, 1].copy(), target=pick[:, 0].copy(), shortest=d[pick[:, 0], pick[:, 1]])


def oracle_states(data: NavData, rng: np.random.Generator, starts_per_scene: int = 0,
                  min_distance: int = 0) -> np.ndarray:
    """Imitation seed states ``(M, 3)`` int (scene, node, target) along oracle paths.

    ``starts_per_scene == 0``: every node with a finite distance ≤ ``MAX_DISTANCE`` to a target (each is the start
    of its own oracle path); else that many random episode starts per scene and every node on
    their oracle paths. States closer than ``min_distance`` to the goal are left out.
    """
    rows = []
    for s, a in enumerate(data.arrays):
        if starts_per_scene == 0:
            tn = np.argwhere((a.distance >= min_distance) & (a.distance <= MAX_DISTANCE))
            rows.append(np.column_stack([np.full(len(tn), s), tn[:, 1], tn[:, 0]]))
            continue
        eps = sample_starts(a, starts_per_scene, rng)
        node, tgt = eps.start.copy(), eps.target
        for _ in range(MAX_DISTANCE + 1):
            rows.append(np.column_stack([np.full(len(node), s), node, tgt]))
            act = a.oracle[tgt, node]
            moving = act < STOP_ACTION
            if not moving.any():
                break
            node = np.where(moving, a.neighbors[node, np.minimum(act, STOP_ACTION - 1)], node)
            node, tgt = node[moving], tgt[moving]
    if rows and min_distance > 0:
        allr = np.concatenate(rows)
        d = data.distance(allr[:, 0], allr[:, 1], allr[:, 2])
        rows = [allr[d >= min_distance]]
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), np.int64)


def dagger_states(agent: Agent, data: NavData, rng: np.random.Generator, episodes_per_scene: int,
                  oracle_beta: float, min_distance: int = 0) -> np.ndarray:
    """States ``(M, 3)`` visited by the current policy (sampling, mixed with the oracle at rate
    ``oracle_beta``) from random starts; the caller relabels them with the oracle."""
    rows = []
    was = agent.training
    agent.eval()
    for s, a in enumerate(data.arrays):
        eps = sample_starts(a, episodes_per_scene, rng)
        if len(eps) == 0:
            continue
        res = run_batched(a, eps, agent_policy(agent, data, s, sample=True, rng=rng, oracle_beta=oracle_beta),
                          record=True)
        nodes = res.nodes[:, :HORIZON]  # the state before each action
        tgt = np.broadcast_to(eps.target[:, None], nodes.shape)
        keep = nodes >= 0
        n, t = nodes[keep], tgt[keep]
        ok = a.distance[t, n] >= max(min_distance, 0)
        rows.append(np.column_stack([np.full(ok.sum(), s), n[ok], t[ok]]))
    agent.train(was)
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), np.int64)


@dataclass
class EvalResult:
    success: float
    spl: float
    episodes: int
    per_scene: list[float]


def evaluate(agent: Agent, data: NavData, episodes: list[Episodes] | None = None, sample: bool = True,
             seed: int = 0, expert_mask=None, noise: float = 0.0) -> EvalResult:
    """Reach-mode success and SPL of ``agent`` on ``data``'s episodes (or the given ones).

    Actions are sampled from the policy with a generator seeded by ``seed`` (a deterministic greedy
    policy loops forever once it errs in a static graph) unless ``sample`` is False.
    """
    episodes = episodes if episodes is not None else data.episodes
    if not episodes:
        raise ValueError("no episodes to evaluate on")
    rng = np.random.default_rng(seed)
    was = agent.training
    agent.eval()
    succ, spls, per = [], [], []
    for s, eps in enumerate(episodes):
        res = run_batched(data.arrays[s], eps, agent_policy(agent, data, s, sample, rng, expert_mask=expert_mask,
                                                            noise=noise))
        succ.append(res.success_reach)
        spls.append(res.spl_reach)
        per.append(float(res.success_reach.mean()))
    agent.train(was)
    s_all, p_all = np.concatenate(succ), np.concatenate(spls)
    return EvalResult(float(s_all.mean()), float(p_all.mean()), int(len(s_all)), per)
