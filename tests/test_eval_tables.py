"""RealAgent's evaluation tables: lazily filled tables give the same episodes as full ones, one
unmasked pass serves every single expert, and no-op corruptions share the clean table."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from navfusion.agents.config import MemoryConfig
from navfusion.agents.types import PolicyOutput
from navfusion.common import TARGETS
from navfusion.eval.backend import SceneData
from navfusion.eval.evaluate import evaluate_agent
from navfusion.eval.real import RealAgent
from navfusion.nav.synthetic import grid_world, sample_episodes

K = 3


class _Agent(torch.nn.Module):
    """Action logits a fixed function of (node, target, expert); the mask keeps experts as a
    uniform mixture (like SingleExperts); counts the states it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(4096, len(TARGETS), K, 9, generator=g) * 2
        self.calls = 0

    def forward(self, inp, expert_mask=None):
        self.calls += len(inp.nodes)
        logits = self.table[inp.nodes, inp.targets]  # (B, K, 9)
        logp = torch.log_softmax(logits, -1)
        w = torch.ones(len(inp.nodes), K) if expert_mask is None else expert_mask.float().expand(len(inp.nodes), K)
        w = w / w.sum(-1, keepdim=True)
        mix = torch.logsumexp(torch.log(w).clamp_min(-1e30).unsqueeze(-1) + logp, 1)
        return PolicyOutput(log_probs=mix, gate=w, expert_logits=logits)


class _Data:
    def __init__(self, arrays) -> None:
        self.scene_ids = ["syn/test/0"]
        self.arrays = [arrays]
        self.spec = SimpleNamespace(encoders=[f"e{k}" for k in range(K)])

    def inputs(self, s, nodes, targets):
        return SimpleNamespace(nodes=torch.as_tensor(nodes), targets=torch.as_tensor(targets), features=None)


def _setup(single: bool):
    arrays = grid_world(seed=3)
    sd = SceneData("syn/test/0", arrays, sample_episodes(arrays, 40, seed=1))
    ra = RealAgent(_Agent(), SimpleNamespace(uses_features=True, memory=MemoryConfig()), _Data(arrays))
    ra._independent_experts = lambda: single
    return ra, sd


def _run(ra, sd, **kw):
    res, _, _ = evaluate_agent(ra, [sd], episodes_per_scene=40, seed=7, **kw)
    return res


def test_lazy_table_matches_full_table():
    ra, sd = _setup(single=False)
    lazy = _run(ra, sd)
    n = sd.arrays.num_nodes
    assert 0 < ra.agent.calls < n * len(TARGETS)  # only visited states were evaluated
    ra2, _ = _setup(single=False)
    tab = ra2._entry(0, None, None, 0.0, 0)
    ra2._fill(0, tab, np.repeat(np.arange(n), len(TARGETS)), np.tile(np.arange(len(TARGETS)), n), None, None, 0.0)
    assert ra2.agent.calls == n * len(TARGETS)
    full = _run(ra2, sd)
    assert ra2.agent.calls == n * len(TARGETS)  # the full table served every step
    np.testing.assert_array_equal(lazy.success_reach, full.success_reach)
    np.testing.assert_array_equal(lazy.steps_reach, full.steps_reach)
    # keeping every expert is the clean evaluation (same table, nothing recomputed)
    calls = ra.agent.calls
    kept = _run(ra, sd, expert_mask=np.ones(K, bool))
    assert ra.agent.calls == calls
    np.testing.assert_array_equal(kept.success_reach, lazy.success_reach)


def test_single_experts_share_one_pass():
    masked, sd = _setup(single=False)  # a one-hot mask per expert (K passes)
    one, _ = _setup(single=True)  # one unmasked pass, expert k's own softmax
    for k in range(K):
        a, b = _run(masked, sd, only_expert=k), _run(one, sd, only_expert=k)
        np.testing.assert_array_equal(a.success_reach, b.success_reach)
        np.testing.assert_array_equal(a.path_reach, b.path_reach)
    assert one.agent.calls < masked.agent.calls  # states shared between experts are computed once
