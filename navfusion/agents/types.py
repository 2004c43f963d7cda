"""The typed inputs and outputs every agent shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class AgentInput:
    """A batch of observations.

    Attributes:
        target: ``(B,)`` long, index into ``navfusion.common.TARGETS``.
        features: ``(B, K, 8, C, h, w)`` float frozen-encoder features (one slot per encoder, in the
            agent's encoder order), or a list of K tensors ``(B, 8, C_k, h_k, w_k)`` when encoders'
            output shapes differ; ``None`` for agents that read only RGB.
        rgb: ``(B, 8, H, H, 3)`` uint8 views at the agent's RGB resolution, or ``None``.
    """

    target: torch.Tensor
    features: torch.Tensor | list[torch.Tensor] | None = None
    rgb: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.target.shape[0])

    def to(self, device: torch.device | str) -> AgentInput:
        f = self.features
        if isinstance(f, list):
            f = [x.to(device) for x in f]
        elif f is not None:
            f = f.to(device)
        return AgentInput(self.target.to(device), f, None if self.rgb is None else self.rgb.to(device))


@dataclass
class PolicyOutput:
    """What an agent's ``forward`` returns.

    Attributes:
        log_probs: ``(B, 9)`` fused action log-probabilities (8 moves, stop).
        gate: ``(B, K)`` mixing weights (rows sum to 1) for gated agents, else ``None``.
        expert_logits: ``(B, K, 9)`` each expert's own action logits (action fusion, single
            experts), else ``None``.
        aux: extra differentiable terms the agent's loss uses (e.g. ``embeddings``).
    """

    log_probs: torch.Tensor
    gate: torch.Tensor | None = None
    expert_logits: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def probs(self) -> torch.Tensor:
        """``(B, 9)`` fused action probabilities."""
        return self.log_probs.exp()

    def actions(self, greedy: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B,)`` actions: argmax, or sampled with ``generator``."""
        if greedy:
            return self.log_probs.argmax(-1)
        return torch.multinomial(self.probs, 1, generator=generator).squeeze(-1)
