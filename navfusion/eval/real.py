"""A trained agent of the real stack as evaluation sees it: a batched policy over a split's lookups.

:class:`RealAgent` wraps a model, its agent config and the loaded split (``navfusion.train.run_folder.
load_trained`` returns the three; ``navfusion.report.real_backend.load_run`` joins them), so this
module needs nothing from training.
"""

from __future__ import annotations

import numpy as np
import torch

from navfusion.agents.memory import ActionMemory, with_memory
from navfusion.common import TARGETS
from navfusion.errors import NavFusionError
from navfusion.eval.backend import SceneData
from navfusion.nav.policies import ActionProbs, StochasticPolicy, sample_actions

#: States per forward pass during evaluation (bounds memory: B x K x 8 x C x h x w features).
CHUNK = 256


class _Table:
    """Per-state outputs of one (scene, corruption) setting, filled as episodes visit states:
    ``probs`` (N, T, 9) (or (N, T, K, 9) per expert), ``gates`` (N, T, K) or None, ``have`` (N, T)."""

    def __init__(self, num_nodes: int, num_targets: int, seed: int):
        self.have = np.zeros((num_nodes, num_targets), bool)
        self.probs: np.ndarray | None = None
        self.gates: np.ndarray | None = None
        self.gen = torch.Generator().manual_seed(seed)


class RealAgent:
    """A trained agent plus the test-split lookups it reads (see ``LoadedAgent``)."""

    def __init__(self, agent, agent_cfg, data):
        self.agent = agent.eval()
        self.cfg = agent_cfg
        self.data = data
        self.expert_names = list(data.spec.encoders) if agent_cfg.uses_features else None
        self._tables: dict[tuple, _Table] = {}

    def _scene_index(self, sd: SceneData) -> int:
        try:
            return self.data.scene_ids.index(sd.scene_id)
        except ValueError:
            raise NavFusionError(f"scene {sd.scene_id} is not in the loaded evaluation split "
                                 f"({', '.join(self.data.scene_ids)})") from None

    def _forward(self, s: int, nodes: np.ndarray, targets: np.ndarray, mask, noise_mask, noise_std, gen):
        inp = self.data.inputs(np.full(len(nodes), s), nodes, targets)
        if noise_mask is not None and noise_std > 0 and inp.features is not None:
            inp.features = _noised(inp.features, np.asarray(noise_mask, bool), noise_std, gen)
        return self.agent(inp, expert_mask=mask)

    def _entry(self, s: int, mask, noise_mask, noise_std: float, seed: int, experts: bool = False) -> _Table:
        key = (s, experts, None if mask is None else tuple(np.asarray(mask).tolist()),
               None if noise_mask is None else tuple(np.asarray(noise_mask, bool).tolist()), float(noise_std),
               int(seed) if noise_mask is not None and noise_std > 0 else 0)
        hit = self._tables.get(key)
        if hit is None:
            if len(self._tables) > 64:
                self._tables.clear()
            hit = self._tables[key] = _Table(self.data.arrays[s].num_nodes, len(TARGETS), int(seed))
        return hit

    @torch.no_grad()
    def _fill(self, s: int, tab: _Table, nodes: np.ndarray, targets: np.ndarray, mask, noise_mask,
              noise_std: float, experts: bool = False) -> None:
        """Compute the table rows of the (node, target) states not yet in ``tab``.

        The agents are memoryless functions of (node, target), so a state is evaluated once however
        often episodes visit it, and only states some episode visits are evaluated at all (a
        64-episode robustness point visits a fraction of the scene). Test-time feature noise is
        therefore drawn once per state (a corrupted representation), not at every visit.
        """
        t_count = len(TARGETS)
        nodes, targets = np.asarray(nodes, np.int64), np.asarray(targets, np.int64)
        need = ~tab.have[nodes, targets]
        if not need.any():
            return
        flat = np.unique(nodes[need] * t_count + targets[need])
        nn_, tt = flat // t_count, flat % t_count
        for c in range(0, len(flat), CHUNK):
            n_c, t_c = nn_[c:c + CHUNK], tt[c:c + CHUNK]
            out = self._forward(s, n_c, t_c, mask, noise_mask, noise_std, tab.gen)
            if experts:
                p = torch.softmax(out.expert_logits.float(), -1).double().numpy()
            else:
                p = out.probs.double().numpy()
            if tab.probs is None:
                tab.probs = np.zeros((tab.have.shape[0], t_count, *p.shape[1:]))
                if out.gate is not None and not experts:
                    tab.gates = np.zeros((tab.have.shape[0], t_count, out.gate.shape[1]), np.float32)
            tab.probs[n_c, t_c] = p
            if tab.gates is not None:
                tab.gates[n_c, t_c] = out.gate.float().numpy()
        tab.have[nn_, tt] = True

    def _independent_experts(self) -> bool:
        from navfusion.agents.models import SingleExperts

        return isinstance(self.agent, SingleExperts)

    def policy(self, sd: SceneData, *, seed: int, expert_mask=None, noise_mask=None, noise_std: float = 0.0,
               only_expert: int | None = None, greedy: bool = False):
        s = self._scene_index(sd)
        rng = np.random.default_rng(seed)
        mask = None
        k = len(self.expert_names or [])
        # Corruptions that change nothing (keep every expert, noise on none) share the clean table.
        if expert_mask is not None and bool(np.all(expert_mask)):
            expert_mask = None
        if noise_mask is not None and not bool(np.any(noise_mask)):
            noise_mask = None
        # For a bank of independent single experts, expert k alone (a one-hot expert mask) is the
        # softmax of its own logits in the unmasked pass (its input is feature k; the mask only
        # zeroes the others), so one table serves all K experts instead of K masked passes.
        experts = only_expert is not None and self._independent_experts()
        if only_expert is not None and not experts:
            mask = torch.zeros(k, dtype=torch.bool)
            mask[only_expert] = True
        elif expert_mask is not None:
            mask = torch.as_tensor(np.asarray(expert_mask, bool))
        tab = self._entry(s, mask, noise_mask, noise_std, seed, experts=experts)

        def distribution(nodes: np.ndarray, targets: np.ndarray, t: int, eidx: np.ndarray) -> ActionProbs:
            self._fill(s, tab, nodes, targets, mask, noise_mask, noise_std, experts=experts)
            p = tab.probs[nodes, targets]
            if experts:
                p = p[:, only_expert]
            return ActionProbs(p, None if tab.gates is None else tab.gates[nodes, targets])

        def choose(p: np.ndarray, nodes: np.ndarray, targets: np.ndarray) -> np.ndarray:
            return p.argmax(1) if greedy else sample_actions(p, rng)

        return with_memory(StochasticPolicy(distribution, choose), ActionMemory.from_config(self.cfg.memory))

    def node_gates(self, sd: SceneData, nodes: np.ndarray, target: int) -> np.ndarray | None:
        s = self._scene_index(sd)
        nodes = np.asarray(nodes)
        tab = self._entry(s, None, None, 0.0, 0)
        self._fill(s, tab, nodes, np.full(len(nodes), target), None, None, 0.0)
        return None if tab.gates is None else tab.gates[nodes, target]


def _noised(features, noise_mask: np.ndarray, std: float, gen: torch.Generator):
    """Gaussian noise of ``std`` × each encoder's feature RMS on the encoders marked in ``noise_mask`` (K,)."""
    per = list(features.unbind(1)) if isinstance(features, torch.Tensor) else list(features)
    out = []
    for k, f in enumerate(per):
        if noise_mask[k]:
            f = f.float()
            rms = f.pow(2).mean().sqrt().clamp_min(1e-6)
            f = f + std * rms * torch.randn(f.shape, generator=gen)
        out.append(f.float())
    if isinstance(features, torch.Tensor):
        return torch.stack(out, 1)
    return out
