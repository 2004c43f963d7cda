"""The agents: action-level fusion (the method), feature-level fusion, concat, single experts,
the end-to-end ResNet baseline and the random walk.

Every agent is an ``nn.Module`` with

* ``forward(inp: AgentInput, expert_mask=None, noise=0.0, generator=None) -> PolicyOutput`` and
* ``loss(out: PolicyOutput, actions (B,)) -> (scalar, {name: float})`` (imitation of the oracle).

``expert_mask`` ``(K,)``/``(B, K)`` bool drops representations (their features become zeros and
gates renormalise over the kept ones); ``noise`` adds Gaussian noise of that std relative to each
representation's RMS — both for robustness tests at evaluation time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from navfusion.agents.config import AgentConfig
from navfusion.agents.experts import (
    ExpertPolicy,
    FeatureFrontend,
    PolicyHead,
    PolicyTrunk,
    expand_mask,
    make_bank,
    split_head,
)
from navfusion.agents.gate import Gate, rgb_to_input
from navfusion.agents.resnet import ResNetTrunk
from navfusion.agents.types import AgentInput, PolicyOutput
from navfusion.common import NUM_ACTIONS, STOP_ACTION, TARGETS


@dataclass(frozen=True)
class InputSpec:
    """What the data gives the agent.

    Attributes:
        encoders: encoder names, in expert order.
        feature_shapes: ``(C, h, w)`` of each encoder's per-view output.
        num_targets: number of target categories (``len(TARGETS)``).
    """

    encoders: tuple[str, ...] = ()
    feature_shapes: tuple[tuple[int, int, int], ...] = ()
    num_targets: int = len(TARGETS)

    def __post_init__(self) -> None:
        if len(self.encoders) != len(self.feature_shapes):
            raise ValueError("InputSpec: one feature shape per encoder expected")

    @property
    def num_experts(self) -> int:
        return len(self.encoders)


def imitation_nll(log_probs: torch.Tensor, actions: torch.Tensor, smoothing: float = 0.0,
                  free: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of ``log_probs`` (N, 9) against the oracle ``actions`` (N,), the target
    smoothed by ``smoothing`` towards the uniform distribution over the 8 moves, or over the moves
    that are not blocked when ``free`` (N, 8) bool is given (rows without a free move: all 8)."""
    nll = F.nll_loss(log_probs, actions)
    if smoothing <= 0:
        return nll
    moves = log_probs[:, :STOP_ACTION]
    if free is None:
        return (1 - smoothing) * nll - smoothing * moves.mean(-1).mean()
    w = free.to(moves.device, moves.dtype)
    w = torch.where(w.sum(-1, keepdim=True) > 0, w, torch.ones_like(w))
    w = w / w.sum(-1, keepdim=True)
    # the mask keeps -inf log-probabilities of blocked moves (zero weight) out of the sum
    return (1 - smoothing) * nll - smoothing * (w * moves.masked_fill(w == 0, 0.0)).sum(-1).mean()


class Agent(nn.Module):
    """Base class: holds the recipe and input spec; subclasses implement ``forward``."""

    kind: str = ""

    def __init__(self, cfg: AgentConfig, spec: InputSpec) -> None:
        super().__init__()
        self.cfg, self.spec = cfg, spec

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def onehot(self, target: torch.Tensor) -> torch.Tensor:
        return F.one_hot(target.long(), self.spec.num_targets).float()

    def loss(self, out: PolicyOutput, actions: torch.Tensor, free: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """Negative log-likelihood of the oracle's actions under the fused policy, plus the
        free-space auxiliary loss when ``free`` ``(B, 8)`` bool (move k not blocked) is given."""
        nll = imitation_nll(out.log_probs, actions, self.cfg.fusion.label_smoothing, self._smooth_mask(free))
        total, logs = nll, {"nll": float(nll.detach())}
        return self._add_free(total, logs, out, free)

    def _smooth_mask(self, free: torch.Tensor | None) -> torch.Tensor | None:
        """The free-move mask label smoothing spreads over (``fusion.smooth_over: free``), else None."""
        return free if self.cfg.fusion.smooth_over == "free" else None

    def _add_free(self, total: torch.Tensor, logs: dict[str, float], out: PolicyOutput,
                  free: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        fl = out.aux.get("free_logits")
        w = self.cfg.fusion.free_weight
        if fl is None or free is None or w <= 0 or not self.cfg.expert.free_space:
            return total, logs
        target = free.float().to(fl.device)
        if fl.dim() == 3:  # (B, K, 8): every expert learns it
            target = target.unsqueeze(1).expand_as(fl)
        bce = F.binary_cross_entropy_with_logits(fl, target)
        logs["free_bce"] = float(bce.detach())
        return total + w * bce, logs


class RandomAgent(Agent):
    """A random walk: uniform over the 8 moves (never stops; stopping early can only lose)."""

    kind = "random"

    def forward(self, inp: AgentInput, expert_mask=None, noise: float = 0.0, generator=None) -> PolicyOutput:
        b = inp.batch_size
        p = torch.full((b, NUM_ACTIONS), 1.0 / (NUM_ACTIONS - 1), device=inp.target.device)
        p[:, STOP_ACTION] = 0.0
        return PolicyOutput(log_probs=p.log())


class GatedAgent(Agent):
    """What both fusion agents share: per-representation experts in an ExpertBank, the RGB gate,
    and the inter-task affinity penalty on the gate weights."""

    def __init__(self, cfg: AgentConfig, spec: InputSpec, affinity: torch.Tensor | None, expert_head: bool) -> None:
        super().__init__(cfg, spec)
        k = spec.num_experts
        self.frontend = FeatureFrontend(spec.feature_shapes, cfg.expert.channels)
        self.bank = make_bank(lambda: ExpertPolicy(cfg.expert, spec.num_targets, head=expert_head), k)
        self.gate = Gate(cfg.gate, k, spec.num_targets, cfg.rgb_resolution)
        a = torch.zeros(k, k) if affinity is None else normalise_affinity(affinity)
        self.register_buffer("affinity", a, persistent=False)

    def experts_and_gate(self, inp: AgentInput, expert_mask, noise: float, generator
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Expert outputs (B, K, ...), gate weights (B, K) and the expanded expert mask (B, K) or None."""
        b, k = inp.batch_size, self.spec.num_experts
        m = None if expert_mask is None else expand_mask(expert_mask, b, k, inp.target.device)
        oh = self.onehot(inp.target)
        e = self.bank(self.frontend(inp.features, m, noise, generator), oh)
        return e, self.gate(inp.rgb, oh, m), m

    def add_affinity(self, total: torch.Tensor, logs: dict[str, float], out: PolicyOutput
                     ) -> tuple[torch.Tensor, dict[str, float]]:
        """Log the affinity mass of the gate weights; add ``λ ×`` it to the loss when λ > 0."""
        pen = affinity_penalty(out.gate, self.affinity)
        logs["affinity_mass"] = float(pen.detach())
        if self.cfg.fusion.affinity_weight > 0:
            total = total + self.cfg.fusion.affinity_weight * pen
        return total, logs


class ActionFusion(GatedAgent):
    """π(a|o) = Σ_k w_k(rgb, target) · π_k(a | r_k, target).

    Loss: mixture negative log-likelihood of the oracle action, plus ``fusion.aux_weight`` × the mean
    per-expert cross-entropy (keeps every expert a competent policy on its own, so the gate can
    switch to any of them), plus ``λ · mean_b w_bᵀ Ã w_b`` when ``fusion.affinity_weight`` λ > 0
    (Ã: inter-task affinity in [0, 1] with a unit diagonal: giving weight to two similar
    representations at once costs more than to two dissimilar ones, and all weight on one costs most).
    """

    kind = "action_fusion"

    def __init__(self, cfg: AgentConfig, spec: InputSpec, affinity: torch.Tensor | None = None) -> None:
        super().__init__(cfg, spec, affinity, expert_head=True)

    def forward(self, inp: AgentInput, expert_mask=None, noise: float = 0.0, generator=None) -> PolicyOutput:
        e, w, m = self.experts_and_gate(inp, expert_mask, noise, generator)
        logits, free = split_head(e)  # (B, K, 9), (B, K, 8)
        logp_k = torch.log_softmax(logits, -1)
        logw = torch.log(w.clamp_min(1e-30)) if m is None else torch.log(w).masked_fill(~m, -1e30)
        log_probs = torch.logsumexp(logw.unsqueeze(-1) + logp_k, dim=1)
        return PolicyOutput(log_probs=log_probs, gate=w, expert_logits=logits, aux={"free_logits": free})

    def loss(self, out: PolicyOutput, actions: torch.Tensor, free: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
        fc = self.cfg.fusion
        sm = self._smooth_mask(free)
        nll = imitation_nll(out.log_probs, actions, fc.label_smoothing, sm)
        total, logs = self._add_free(nll, {"nll": float(nll.detach())}, out, free)
        if fc.aux_weight > 0:
            k = out.expert_logits.shape[1]
            aux = imitation_nll(torch.log_softmax(out.expert_logits, -1).reshape(-1, NUM_ACTIONS),
                                actions.repeat_interleave(k), fc.label_smoothing,
                                None if sm is None else sm.repeat_interleave(k, 0))
            total = total + fc.aux_weight * aux
            logs["aux_expert_ce"] = float(aux.detach())
        return self.add_affinity(total, logs, out)


class FeatureFusion(GatedAgent):
    """Feature-level fusion: the gate weights per-representation embeddings, one head acts:
    π(a|o) = head(Σ_k w_k e_k(r_k), target)."""

    kind = "feature_fusion"

    def __init__(self, cfg: AgentConfig, spec: InputSpec, affinity: torch.Tensor | None = None) -> None:
        super().__init__(cfg, spec, affinity, expert_head=False)
        self.head = PolicyHead(cfg.expert.hidden, cfg.expert.policy, cfg.expert.free_space)

    def forward(self, inp: AgentInput, expert_mask=None, noise: float = 0.0, generator=None) -> PolicyOutput:
        e, w, _ = self.experts_and_gate(inp, expert_mask, noise, generator)  # (B, K, D, H), (B, K)
        fused = (w.view(*w.shape, 1, 1) * e).sum(1)
        logits, free = split_head(self.head(fused))
        return PolicyOutput(log_probs=torch.log_softmax(logits, -1), gate=w, aux={"free_logits": free})

    def loss(self, out: PolicyOutput, actions: torch.Tensor, free: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
        total, logs = super().loss(out, actions, free)
        return self.add_affinity(total, logs, out)


class Concat(Agent):
    """All K representations into one policy: per-representation towers (the first layers of one
    big network, block-structured) whose embeddings are concatenated and mixed by a linear layer
    before the policy head."""

    kind = "concat"

    def __init__(self, cfg: AgentConfig, spec: InputSpec, affinity=None) -> None:
        super().__init__(cfg, spec)
        k, hdim = spec.num_experts, cfg.expert.hidden
        self.frontend = FeatureFrontend(spec.feature_shapes, cfg.expert.channels)
        self.bank = make_bank(lambda: ExpertPolicy(cfg.expert, spec.num_targets, head=False), k)
        self.mix = nn.Linear(k * hdim, hdim)
        self.head = PolicyHead(hdim, cfg.expert.policy, cfg.expert.free_space)

    def forward(self, inp: AgentInput, expert_mask=None, noise: float = 0.0, generator=None) -> PolicyOutput:
        b, k = inp.batch_size, self.spec.num_experts
        m = None if expert_mask is None else expand_mask(expert_mask, b, k, inp.target.device)
        oh = self.onehot(inp.target)
        e = self.bank(self.frontend(inp.features, m, noise, generator), oh)  # (B, K, D, H)
        z = torch.relu(self.mix(e.permute(0, 2, 1, 3).reshape(b, e.shape[2], -1)))
        logits, free = split_head(self.head(z))
        return PolicyOutput(log_probs=torch.log_softmax(logits, -1), aux={"free_logits": free})


class SingleExperts(Agent):
    """``single`` (one expert) and ``single_all`` (every expert of the recipe, trained together as
    one bank with separate losses: the loss is the sum of the experts' own cross-entropies, so
    they do not interact). The fused output is the uniform mixture of the kept experts: evaluate
    expert k alone with a one-hot ``expert_mask``."""

    kind = "single"

    def __init__(self, cfg: AgentConfig, spec: InputSpec, affinity=None) -> None:
        super().__init__(cfg, spec)
        self.frontend = FeatureFrontend(spec.feature_shapes, cfg.expert.channels)
        self.bank = make_bank(lambda: ExpertPolicy(cfg.expert, spec.num_targets, head=True), spec.num_experts)

    def forward(self, inp: AgentInput, expert_mask=None, noise: float = 0.0, generator=None) -> PolicyOutput:
        b, k = inp.batch_size, self.spec.num_experts
        m = None if expert_mask is None else expand_mask(expert_mask, b, k, inp.target.device)
        oh = self.onehot(inp.target)
        logits, free = split_head(self.bank(self.frontend(inp.features, m, noise, generator), oh))
        logp_k = torch.log_softmax(logits, -1)
        if m is None:
            w = torch.full((b, k), 1.0 / k, device=logits.device)
        else:
            w = m.float() / m.float().sum(-1, keepdim=True)
        logw = torch.log(w).clamp_min(-1e30)
        return PolicyOutput(log_probs=torch.logsumexp(logw.unsqueeze(-1) + logp_k, 1), expert_logits=logits,
                            aux={"free_logits": free})

    def loss(self, out: PolicyOutput, actions: torch.Tensor, free: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
        k = out.expert_logits.shape[1]
        logp = torch.log_softmax(out.expert_logits, -1)
        sm = self._smooth_mask(free)
        ce = torch.stack([imitation_nll(logp[:, j], actions, self.cfg.fusion.label_smoothing, sm) for j in range(k)])
        logs = {"nll": float(ce.mean().detach())}
        if k > 1:
            logs.update({f"ce/{n}": float(c) for n, c in zip(self.spec.encoders, ce.detach())})
        return self._add_free(ce.sum(), logs, out, free)


class ResNetAgent(Agent):
    """End-to-end baseline: a ResNet-style CNN (trained from scratch, or from a local
    torchvision-format state dict) on each RGB view; 8 view embeddings + target → MLP."""

    kind = "resnet"

    def __init__(self, cfg: AgentConfig, spec: InputSpec, affinity=None) -> None:
        super().__init__(cfg, spec)
        rc = cfg.resnet
        self.trunk = ResNetTrunk(rc.width, rc.blocks)
        if rc.init:
            self.trunk.load_torchvision(rc.init)
        self.policy = PolicyTrunk(self.trunk.out_channels, rc.hidden, spec.num_targets, cfg.expert.policy)
        self.head = PolicyHead(rc.hidden, cfg.expert.policy, cfg.expert.free_space)

    def forward(self, inp: AgentInput, expert_mask=None, noise: float = 0.0, generator=None) -> PolicyOutput:
        b = inp.batch_size
        x = rgb_to_input(inp.rgb, self.cfg.rgb_resolution)
        if noise > 0:
            x = x + noise * torch.randn(x.shape, generator=generator, device=x.device)
        v = self.trunk(x).reshape(b, 8, -1)
        logits, free = split_head(self.head(self.policy(v, self.onehot(inp.target))))
        return PolicyOutput(log_probs=torch.log_softmax(logits, -1), aux={"free_logits": free})


def normalise_affinity(a: torch.Tensor) -> torch.Tensor:
    """Affinity ``(K, K)`` → symmetric, negatives clipped, off-diagonal scaled to max 1, diagonal 1.

    The diagonal stays (a task is most similar to itself): with it, ``wᵀÃw`` is largest for a gate
    that puts all its weight on one expert, so the regulariser also works against the collapse onto
    a few experts that the paper's regulariser is there to prevent. Without it a one-hot gate would
    pay nothing.
    """
    a = torch.as_tensor(a, dtype=torch.float32)
    a = 0.5 * (a + a.T)
    eye = torch.eye(a.shape[0])
    off = a.clamp_min(0) * (1 - eye)
    mx = off.max()
    off = off / mx if mx > 0 else off
    return off + eye


def affinity_penalty(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``mean_b w_bᵀ A w_b`` for weights ``(B, K)`` and a normalised affinity ``(K, K)``."""
    return torch.einsum("bi,ij,bj->b", w, a, w).mean()
